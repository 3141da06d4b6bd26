//go:build js

package guest

import (
	"net/http"
	"syscall/js"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/syumai/workers"
)

const defaultModel = "browser"

// Serve hands h to github.com/syumai/workers, which exposes it to
// JavaScript as handleRequest(Request) → Promise<Response> on the runtime
// context's binding object. h == nil means http.DefaultServeMux.
//
// By default the instance stays alive and serves every request the page
// (or a Web Worker) sends it: one long-lived Go program, like the host's
// guests. When the loader sets globalThis.mpmlabInstancePerRequest,
// Serve is syumai/workers' own Serve instead, which ends the program after
// its first response: a fresh instance per request, the CGI end of the
// spectrum.
func Serve(h http.Handler) {
	if h == nil {
		h = http.DefaultServeMux
	}
	h = withBody(h)
	if js.Global().Get("mpmlabInstancePerRequest").Truthy() {
		workers.Serve(h)
		return
	}
	workers.ServeNonBlock(h)
	workers.Ready()
	select {} // park main; handleRequest callbacks keep arriving
}

// withBody gives every request a Body, as net/http's server does
// (http.NoBody for none): syumai/workers leaves it nil for a request
// without one, and a handler that reads it would panic.
func withBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil {
			r.Body = http.NoBody
		}
		h.ServeHTTP(w, r)
	})
}

// Block holds the JavaScript thread for d: nothing else on it runs, not
// even the page's timers or rendering when it is the page's main thread.
func Block(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
	}
}

// browserWorker says who serves in the browser: the loader sets
// globalThis.mpmlabWorker (e.g. "page loop", "worker 1").
func browserWorker() string {
	if v := js.Global().Get("mpmlabWorker"); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

var shared = map[string]int64{}

func sharedAdd(k string, d int64) int64 { shared[k] += d; return shared[k] }
func sharedGet(k string) int64          { return shared[k] }
func sharedSet(k string, v int64)       { shared[k] = v }

// poolRun runs the work inline: a JavaScript thread has no pool to send it
// to (a Web Worker is another instance, as worker_threads are), and a
// goroutine would run on the same thread anyway. It holds the instance as
// Compute and Block do.
func poolRun(work uint32, d time.Duration, where string) error {
	if work == abi.WorkCompute {
		Compute(d)
	} else {
		Block(d)
	}
	return nil
}

// yield returns to the JavaScript event loop for one macrotask: a message
// on a MessageChannel (setTimeout(0) where there is none, which browsers
// clamp to 4 ms once nested), so the requests and events queued meanwhile
// run first, as after node's setImmediate.
func yield() {
	done := make(chan struct{})
	var f js.Func
	var port js.Value
	f = js.FuncOf(func(js.Value, []js.Value) any {
		if port.Truthy() {
			port.Call("close")
		}
		f.Release()
		close(done)
		return nil
	})
	if mc := js.Global().Get("MessageChannel"); mc.Truthy() {
		ch := mc.New()
		port = ch.Get("port1")
		port.Set("onmessage", f)
		ch.Get("port2").Call("postMessage", nil)
	} else {
		js.Global().Call("setTimeout", f, 0)
	}
	<-done
}

func computeBegin(string) {}
func computeEnd()         {}
