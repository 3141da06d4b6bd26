-- sleep waits 50 ms without holding the loop, as mpmlab's time.Sleep does
-- under the reactor (wasm/examples/sleep): ngx.sleep yields this request's
-- coroutine to nginx's event loop, which serves the others meanwhile.
ngx.sleep(0.05)
ngx.say("slept 50ms")
