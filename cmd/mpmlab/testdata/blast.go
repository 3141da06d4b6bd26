// blast is the crash blast-radius handler of the model tests:
// /slow?ms=N sleeps (time.Sleep), /crash?after=N sleeps then panics,
// anything else answers at once.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func ms(r *http.Request, key string) time.Duration {
	n, _ := strconv.Atoi(r.URL.Query().Get(key))
	return time.Duration(n) * time.Millisecond
}

func main() {
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(ms(r, "ms"))
		fmt.Fprintf(w, "slept on %s\n", guest.Worker())
	})
	http.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(ms(r, "after"))
		panic("blast")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
