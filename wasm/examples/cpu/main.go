// cpu burns CPU for ?ms= milliseconds (default 200) with guest.Compute on any
// path but /hello, which answers at once. One slow request starves a
// cooperative loop: /hello requests behind it on the reactor wait for it; on
// threads or processes they do not.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			ms = 200
		}
		guest.Compute(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "computed %dms on %s\n", ms, guest.Worker())
	})
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "fast answer from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
