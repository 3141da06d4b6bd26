// holder is a loop's runaway that another request's timer finds first:
// /sleep answers its first byte, sleeps, then wants the loop again; /spin
// holds the loop forever.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		fmt.Fprintln(w, "started")
		w.(http.Flusher).Flush()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintln(w, "slept")
	})
	http.HandleFunc("/spin", func(w http.ResponseWriter, r *http.Request) {
		for n := uint64(0); ; n++ {
		}
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	guest.Serve(nil)
}
