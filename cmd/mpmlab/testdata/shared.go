// shared counts requests in guest.Shared two ways: /add with the atomic Add,
// /getset with Get, some work, then Set — a read-modify-write race between
// the threads of one process. /read reports both counters.
package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		guest.Shared.Add("add", 1)
	})
	http.HandleFunc("/getset", func(w http.ResponseWriter, r *http.Request) {
		v := guest.Shared.Get("getset")
		guest.Compute(time.Millisecond)
		guest.Shared.Set("getset", v+1)
	})
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %d", guest.Shared.Get("add"), guest.Shared.Get("getset"))
	})
	guest.Serve(nil)
}
