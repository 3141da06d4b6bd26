// sleep waits 50 ms with time.Sleep: an asynchronous wait that parks only its
// goroutine, so even one event loop serves many of these at once.
package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintf(w, "slept 50ms on %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
