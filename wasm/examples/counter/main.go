// counter counts requests in a global variable, and in guest.Shared: each
// process (and each thread) has its own memory, so the global counts per
// instance; the shared counter counts per process, across its threads.
package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

var hits int

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hits++
		shared := guest.Shared.Add("hits", 1)
		fmt.Fprintf(w, "global %d, shared %d on %s\n", hits, shared, guest.Worker())
	})
	guest.Serve(nil)
}
