// blocking holds the whole instance for 50 ms with guest.Block, like a
// synchronous disk read or database driver: under the reactor every other
// connection of the loop waits, one request at a time, /hello (which
// answers at once) too.
package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		guest.Block(50 * time.Millisecond)
		fmt.Fprintf(w, "blocked 50ms on %s\n", guest.Worker())
	})
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "fast answer from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
