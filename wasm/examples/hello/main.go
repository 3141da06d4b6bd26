// hello answers at once with who served the request: the baseline every
// model should handle at full speed.
package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
