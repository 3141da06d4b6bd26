-- hello answers at once, as mpmlab's hello example does
-- (wasm/examples/hello): the cost of a request with nothing in it, which
-- `mpmlab validate --cost` measures.
function handle(r)
    r.content_type = "text/plain"
    r:puts("hello from apache\n")
    return apache2.OK
end
