// crash panics on /crash (any other path answers normally): the request fails
// and its worker dies. Count what else dies with it under each model.
package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		panic("crash requested")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // a request whose body is on its way is in flight here
		fmt.Fprintf(w, "still alive: %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
