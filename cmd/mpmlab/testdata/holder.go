// holder is a loop's runaway whose timer another request's beats:
// /stream?ms=N writes a dot every 100 ms for N ms, holding the loop
// throughout, then spins forever; anything else answers at once.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		for start := time.Now(); time.Since(start) < time.Duration(ms)*time.Millisecond; {
			fmt.Fprint(w, ".")
			w.(http.Flusher).Flush()
			for tick := time.Now(); time.Since(tick) < 100*time.Millisecond; {
			}
		}
		for n := uint64(0); ; n++ {
		}
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	guest.Serve(nil)
}
