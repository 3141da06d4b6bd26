// memory allocates on /grow until the instance hits its memory limit (any other
// path answers normally): the request fails cleanly and the worker is replaced.
package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

var hoard [][]byte

func main() {
	http.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			hoard = append(hoard, b)
		}
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "still alive: %s, holding %d MiB\n", guest.Worker(), len(hoard)*8)
	})
	guest.Serve(nil)
}
