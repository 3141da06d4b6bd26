// cpu burns CPU for ?ms= milliseconds (default 200) on any path but /hello,
// which answers at once. One slow request starves a cooperative loop: /hello
// requests behind it on the reactor wait for it; on threads or processes
// they do not. The same source has the loop's remedies:
//
//	/?ms=N          guest.Compute: holds the loop for N ms
//	/?ms=N&pool=1   guest.Pool.Compute: on the worker's thread pool, while the
//	                loop serves others (nginx's thread_pool, node's libuv pool);
//	                a full queue fails it at once with nginx's message (500)
//	/?ms=N&yield=S  N ms in slices of S ms with guest.Yield between them
//	                (node's setImmediate): others wait a slice, not the whole
//	/hello          answers at once
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
		q := r.URL.Query()
		ms, err := strconv.Atoi(q.Get("ms"))
		if err != nil || ms < 0 {
			ms = 200
		}
		d := time.Duration(ms) * time.Millisecond
		slice, _ := strconv.Atoi(q.Get("yield"))
		switch {
		default:
			guest.Compute(d) // holds the loop: the starvation
			fmt.Fprintf(w, "computed %dms on %s\n", ms, guest.Worker())
		case q.Get("pool") == "1":
			if err := guest.Pool.Compute(d); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError) // nginx fails the request
				return
			}
			fmt.Fprintf(w, "computed %dms on the thread pool of %s\n", ms, guest.Worker())
		case slice > 0:
			for left := d; left > 0; left -= time.Duration(slice) * time.Millisecond {
				guest.Compute(min(left, time.Duration(slice)*time.Millisecond))
				guest.Yield()
			}
			fmt.Fprintf(w, "computed %dms in %dms slices on %s\n", ms, slice, guest.Worker())
		}
	})
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "fast answer from %s\n", guest.Worker())
	})
	guest.Serve(nil)
}
