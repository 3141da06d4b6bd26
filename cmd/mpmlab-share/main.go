//go:build js && wasm

// Command mpmlab-share is mpmlab's share service on Cloudflare Workers: the
// playground's share endpoints (package share, the same code `mpmlab
// serve` runs) over an R2 bucket, and the front end itself, served as the
// Worker's static assets, so a link /p/<id> opens anywhere with nothing
// installed.
//
// It is Go compiled to WebAssembly (GOOS=js) and run by
// github.com/syumai/workers, whose glue (workers-assets-gen) starts it for
// each request. Build and run it with make:
//
//	make share-dev     # wrangler's local mode on http://127.0.0.1:8787, state in cmd/mpmlab-share/.wrangler-state
//	make share-deploy  # wrangler deploy, to the account wrangler is logged in to
//
// The bindings are in wrangler.toml: SHARES (the R2 bucket), ASSETS (the
// front end) and WRITES (a rate limit on writes per client address).
package main

import (
	"net/http"

	"github.com/syumai/workers"

	"github.com/mpmlab/mpmlab/playground/share"
)

func main() {
	mux := http.NewServeMux()
	(&share.Handler{
		Store: &r2Store{binding: bucketBinding},
		Page:  http.HandlerFunc(servePage),
		Allow: allowWrite,
	}).Register(mux)
	mux.HandleFunc("GET /api/examples", serveExamples)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		share.WriteError(w, http.StatusNotFound, "no API endpoint "+r.Method+" "+r.URL.Path+" on the share service (building and running need a local mpmlab serve)")
	})
	mux.HandleFunc("/", servePage)
	workers.Serve(mux)
}
