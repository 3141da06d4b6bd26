-- block holds its worker thread for 50 ms, as mpmlab's guest.Block(50ms)
-- does (wasm/examples/blocking): a synchronous wait that frees no thread.
-- mod_lua has no sleep(); r.usleep is apr_sleep on the serving thread.
function handle(r)
    r.usleep(50000)
    r.content_type = "text/plain"
    r:puts("blocked 50ms\n")
    return apache2.OK
end
