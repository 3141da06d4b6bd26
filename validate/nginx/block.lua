-- block holds nginx's worker, its one event loop, for 50 ms, as mpmlab's
-- guest.Block(50 * time.Millisecond) holds the reactor's instance
-- (wasm/examples/blocking): usleep(3) through LuaJIT's FFI is a blocking
-- system call on the loop's thread, with neither the fork of
-- os.execute("sleep 0.05") nor the CPU of a busy wait.
local ffi = require "ffi"
pcall(ffi.cdef, "int usleep(unsigned int usec);") -- once per worker; again is an error
ffi.C.usleep(50000)
ngx.say("blocked 50ms")
