//go:build !wasip1 && !js

package guest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/threadpool"
)

const defaultModel = "native"

// Serve runs h as a plain net/http server on MPMLAB_ADDR (default
// 127.0.0.1:8080): the native baseline, one goroutine per connection.
func Serve(h http.Handler) {
	addr := os.Getenv("MPMLAB_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", addr) // only once it does: bench waits for this line
	if err := http.Serve(ln, h); err != nil {
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

// nativePool is the process's pool: goroutines with nginx's queue, sized
// by MPMLAB_THREAD_POOL_THREADS and MPMLAB_THREAD_POOL_MAX_QUEUE (default
// 4 and 65536, as the host's).
var nativePool = sync.OnceValue(func() *threadpool.Pool {
	env := func(k string, def int) int {
		if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
			return n
		}
		return def
	}
	return threadpool.New(threadpool.Config{
		Threads:  env("MPMLAB_THREAD_POOL_THREADS", 4),
		MaxQueue: env("MPMLAB_THREAD_POOL_MAX_QUEUE", 65536),
	})
})

func poolRun(work uint32, d time.Duration, where string) error {
	done := make(chan struct{})
	waiting, ok := nativePool().Post(func(int) {
		if work == abi.WorkCompute {
			Compute(d)
		} else {
			time.Sleep(d)
		}
		close(done)
	})
	if !ok {
		return &PoolOverflowError{Waiting: waiting}
	}
	<-done
	return nil
}

// yield: natively goroutines are preempted and every connection has its
// own; there is no loop to hand back to.
func yield() { runtime.Gosched() }

func computeBegin(string) {}
func computeEnd()         {}
