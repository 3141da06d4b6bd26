//go:build js

package guest

import (
	"net/http"
	"syscall/js"
	"time"

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
	if js.Global().Get("mpmlabInstancePerRequest").Truthy() {
		workers.Serve(h)
		return
	}
	workers.ServeNonBlock(h)
	workers.Ready()
	select {} // park main; handleRequest callbacks keep arriving
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

func computeBegin(string) {}
func computeEnd()         {}
