//go:build js

package guest

import (
	"net/http"
	"time"

	"github.com/syumai/workers"
)

const defaultModel = "browser"

// Serve hands h to github.com/syumai/workers, which serves it from the
// JavaScript runtime (a browser tab or a worker). h == nil means
// http.DefaultServeMux.
func Serve(h http.Handler) {
	if h == nil {
		h = http.DefaultServeMux
	}
	workers.Serve(h)
}

// Block holds the JavaScript thread for d: nothing else on it runs.
func Block(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
	}
}

var shared = map[string]int64{}

func sharedAdd(k string, d int64) int64 { shared[k] += d; return shared[k] }
func sharedGet(k string) int64          { return shared[k] }
func sharedSet(k string, v int64)       { shared[k] = v }
