-- hello answers at once, as mpmlab's hello example does
-- (wasm/examples/hello): the cost of a request with nothing in it, which
-- `mpmlab validate --cost` measures.
ngx.say("hello from nginx")
