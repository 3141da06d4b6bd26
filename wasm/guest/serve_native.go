//go:build !wasip1 && !js

package guest

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

const defaultModel = "native"

// Serve runs h as a plain net/http server on MPMLAB_ADDR (default
// 127.0.0.1:8080): the native baseline, one goroutine per connection.
func Serve(h http.Handler) {
	addr := os.Getenv("MPMLAB_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	fmt.Printf("listening on http://%s\n", addr)
	if err := http.ListenAndServe(addr, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Block sleeps for d; natively it holds only the calling goroutine.
func Block(d time.Duration) { time.Sleep(d) }

var (
	sharedMu sync.Mutex
	shared   = map[string]int64{}
)

func sharedAdd(k string, d int64) int64 {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	shared[k] += d
	return shared[k]
}

func sharedGet(k string) int64 {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	return shared[k]
}

func sharedSet(k string, v int64) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	shared[k] = v
}

func browserWorker() string { return "" }

func computeBegin(string) {}
func computeEnd()         {}
