// biglog prints a 2 MiB line on /print, then answers; / answers at once;
// /status?code=N writes status N.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/print", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(strings.Repeat("x", 2<<20))
		fmt.Fprintln(w, "printed")
	})
	http.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
