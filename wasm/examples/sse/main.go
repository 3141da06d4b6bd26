// sse streams Server-Sent Events: each request stays open for seconds
// while its handler waits between events, flushing each as it goes. Under
// process and thread a stream holds its lane while it waits, so past
// their pool size the other clients wait in the accept queue; one loop
// holds thousands of them, each parked in its timer.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

// Bounds of the query's parameters.
const (
	maxEvents  = 60
	maxEveryMS = 10000
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		events, err1 := param(r, "events", 4, maxEvents)
		every, err2 := param(r, "every", 1000, maxEveryMS)
		if err := firstErr(err1, err2); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprintf(w, ": %d events, one every %d ms, from %s\n\n", events, every, guest.Worker())
		w.(http.Flusher).Flush() // the stream is open: the client sees it at once
		tick := time.NewTicker(time.Duration(every) * time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= events; i++ {
			select {
			case <-r.Context().Done(): // the client went away
				return
			case <-tick.C:
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d of %d\n\n", i, i, events)
			w.(http.Flusher).Flush()
		}
	})
	guest.Serve(nil)
}

// param reads the query's integer parameter name, def if absent, and
// refuses one outside 1..most.
func param(r *http.Request, name string, def, most int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s=%q: want a whole number in 1..%d", name, s, most)
	}
	return n, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
