// runaway spins forever on /spin (any other path answers normally). Go on wasm
// cannot be preempted, so only the host's --timeout stops it, by killing the
// worker that runs it.
package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/spin", func(w http.ResponseWriter, r *http.Request) {
		for n := uint64(0); ; n++ {
		}
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "still alive: %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
