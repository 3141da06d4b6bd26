// Package guest is the SDK every mpmlab handler imports.
//
// A handler is an ordinary Go program that registers net/http handlers and
// calls Serve:
//
//	package main
//
//	import (
//		"fmt"
//		"net/http"
//
//		"github.com/mpmlab/mpmlab/wasm/guest"
//	)
//
//	func main() {
//		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintf(w, "hello from %s\n", guest.Worker())
//		})
//		guest.Serve(nil)
//	}
//
// The same source builds for three targets:
//
//   - GOOS=wasip1, run by the mpmlab host in a wazero sandbox. Serve is a
//     long-lived cooperative loop: requests arrive as frames on a virtual
//     file descriptor, each is served on its own goroutine, and responses
//     leave as frames. Go on wasm has no preemption, so a goroutine that
//     computes holds the whole instance until it returns or waits.
//   - GOOS=js, in a browser tab or a JavaScript runtime, where Serve hands
//     the handler to github.com/syumai/workers.
//   - any other GOOS, where Serve is a plain net/http server on MPMLAB_ADDR
//     (default 127.0.0.1:8080): the native baseline mpmlab compares against.
//
// Besides Serve, the SDK offers what a concurrency experiment needs, each with
// honest semantics: Block (a synchronous call that holds the whole instance),
// Compute (CPU work), Worker (who is serving) and Shared (state shared by
// the threads of one worker process). And the remedies a loop has for them:
// Pool, the worker process's thread pool, where Compute and Block work runs
// while the request waits and the loop serves others (nginx's thread_pool,
// node's libuv pool), and Yield, which lets the loop poll and run others
// before going on (node's setImmediate).
//
// # What can move off the loop, and what cannot
//
// An instance is one thread of WebAssembly, so a handler's own Go code runs
// on its loop and nowhere else, as JavaScript runs on node's loop (only
// worker_threads, another instance, would change that). What moves to the
// pool is the work the SDK does for the handler: Pool.Compute and
// Pool.Block. A handler that computes in its own code can only cut that
// code in slices and Yield between them.
//
// # The sandbox
//
// Under the mpmlab host (GOOS=wasip1) a handler sees a file system of its
// own, in memory, made by the host (runtime.Files, package vwasi):
//
//   - The experiment's files (main.go and its data files: data.json,
//     index.html, site.css...) at the root "/", which is also the working
//     directory: os.ReadFile("data.json"), template.ParseFiles("page.html"),
//     http.FileServer(http.Dir(".")) and os.DirFS(".") all work. They are
//     read-only: writing, creating, removing or renaming one fails with
//     "Read-only file system" (EROFS), as does creating a file anywhere but
//     /tmp.
//   - /tmp (os.TempDir()), writable, in memory, its own per instance (a
//     thread's or a loop's; lost when the instance ends), at most 16 MiB in
//     all: a write past that fails with "No space left on device"
//     (ENOSPC). Multipart parts past ParseMultipartForm's maxMemory go
//     there, as under net/http.
//   - The experiment's environment ("env" in its JSON, --env NAME=value on
//     mpmlab run and bench): os.Getenv. Names starting with MPMLAB_ are the
//     host's own (Worker reads them).
//   - Time zones: the SDK imports time/tzdata, so time.LoadLocation
//     ("Europe/Paris") works everywhere (it adds about 400 KB to every build).
//   - MIME types: the SDK registers the common extensions (mimeTypes), so
//     mime.TypeByExtension and http.FileServer's Content-Type do not depend
//     on the machine's /etc/mime.types.
//
// What a handler cannot do, and the error it sees:
//
//   - Reach the host's files: there are none in its file system;
//     os.ReadFile("/etc/passwd") fails with "open /etc/passwd: No such file
//     or directory" (Go on wasip1 capitalises the errno's text).
//   - Open a network connection: Go on wasip1 has no sockets, only a fake
//     network inside the instance (net.Listen succeeds, and nothing outside
//     can connect to it). net.Dial("tcp", "127.0.0.1:1") fails with "dial
//     tcp 127.0.0.1:1: address 127.0.0.1:1: connect: Connection refused";
//     http.Get("http://example.com/") with "dial tcp: lookup example.com
//     on [::1]:53: write udp ...: Connection reset by peer".
//   - Start a process: exec.Command(...).Run() fails with "open /dev/null:
//     No such file or directory" (there is no /dev), os.StartProcess with
//     "fork/exec /bin/true: Not implemented on wasip1".
//
// In the browser (GOOS=js, "Run in browser") each instance gets the same: the
// experiment's files read-only at "/", a /tmp of its own capped at 16 MiB, and
// the environment (www/goserver.js). There, os.StartProcess fails with
// "fork/exec ...: not implemented on js"; the network is the same fake one.
package guest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/threadpool"
)

// Compute burns CPU inside the guest for about d, then returns. It never
// yields: under the reactor it holds the loop, as a CPU-bound handler would.
func Compute(d time.Duration) {
	computeBegin(callerPos())
	defer computeEnd()
	deadline := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(deadline) {
		for i := 0; i < 2000; i++ { // some real work between clock reads
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	runtime.KeepAlive(x) // the work is not optimised away
}

// handlerModule is the module path mpmlab builds handlers in
// (runtime/build.go); positions are reported relative to it.
const handlerModule = "mpmlab.local/handler/"

// callerPos is the position in the handler's source ("main.go:22") of the
// call of the SDK function that called callerPos. A handler calls Block or
// Compute from a few places, over and over: each place's position is
// worked out once (runtime.Caller decodes the binary's line tables, a cost
// a request that blocks would otherwise pay on its thread every time) and
// then found by the call's return address.
func callerPos() string {
	var pc [1]uintptr
	if runtime.Callers(3, pc[:]) == 0 {
		return ""
	}
	if pos, ok := positions.Load(pc[0]); ok {
		return pos.(string)
	}
	_, file, line, ok := runtime.Caller(2)
	if !ok {
		return ""
	}
	pos := position(file, line)
	positions.Store(pc[0], pos)
	return pos
}

// positions maps the return address of a call of Block, Compute or the
// pool's to its position in the handler's source (callerPos).
var positions sync.Map

// position formats file:line relative to the handler's module.
func position(file string, line int) string {
	if i := strings.Index(file, handlerModule); i >= 0 {
		file = file[i+len(handlerModule):]
	} else if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return file + ":" + strconv.Itoa(line)
}

// Pool is the worker process's thread pool: a fixed number of OS threads
// (thread_pool_threads, --thread-pool-threads; 4 by default, as libuv's)
// with a queue of at most thread_pool_max_queue tasks (65536, as nginx's).
// Every instance (thread) of the process shares it, under every model.
//
//	http.HandleFunc("/hash", func(w http.ResponseWriter, r *http.Request) {
//		if err := guest.Pool.Compute(200 * time.Millisecond); err != nil {
//			http.Error(w, err.Error(), http.StatusInternalServerError)
//			return
//		}
//		fmt.Fprintln(w, "hashed")
//	})
//
// Pool.Compute and Pool.Block post the work and park the calling goroutine
// until a pool thread has done it: meanwhile the instance runs its other
// goroutines, so under the reactor the loop serves other requests, as
// nginx's loop does while aio threads read a file and node's while libuv
// runs crypto.pbkdf2. With every thread busy, tasks wait in the queue, in
// order (node's fifth pbkdf2 waits for one of four to finish); with the
// queue full, the call fails at once with a *PoolOverflowError and nothing
// runs (nginx fails the request).
//
// Under the process, thread and event models each worker process has a pool
// too (Apache has none): there it frees nothing that was not free already,
// since one request holds its instance anyway, and its work is limited by
// the pool's threads. In a browser there is no pool (see Yield).
var Pool ThreadPool

// ThreadPool is the type of Pool.
type ThreadPool struct{}

// Compute burns CPU on a pool thread while the calling goroutine waits,
// parked: the CPU work of Compute, off the loop. The work is d of the
// thread's CPU time (on a Linux host), a fixed amount as a real task's is:
// with more busy threads than cores each takes longer than d, and the pool
// adds no cores. (Compute, and Pool.Compute natively, count wall time.)
func (ThreadPool) Compute(d time.Duration) error { return poolRun(abi.WorkCompute, d, callerPos()) }

// Block holds a pool thread for d, asleep, while the calling goroutine
// waits, parked: a synchronous call (a disk read, a database driver) on a
// thread of its own rather than on the loop, as Block does.
func (ThreadPool) Block(d time.Duration) error { return poolRun(abi.WorkBlock, d, callerPos()) }

// PoolOverflowError is the error of a Pool call refused because the pool's
// queue was full: Waiting tasks were waiting for a thread
// (thread_pool_max_queue of them). Its message is the one nginx logs.
type PoolOverflowError struct {
	Waiting int
}

func (e *PoolOverflowError) Error() string { return threadpool.OverflowMessage(e.Waiting) }

// Yield lets the instance's loop go round before the caller goes on, as
// node's setImmediate does: the loop polls for I/O (reads the requests that
// arrived, accepts what the model lets it), runs the requests that are
// ready, those just read included, and then the caller. A handler that
// computes for long does it in slices with a Yield between them, so the
// others wait for a slice, not for the whole:
//
//	for left := 200 * time.Millisecond; left > 0; left -= 10 * time.Millisecond {
//		guest.Compute(min(left, 10*time.Millisecond))
//		guest.Yield()
//	}
//
// runtime.Gosched is not that: in a guest it runs the goroutines already
// ready and comes back without polling, so a request that arrived
// meanwhile waits until the loop has nothing else to run (RATIONALE.md).
// In a browser Yield is a macrotask (MessageChannel); natively, where
// goroutines are preempted anyway, it is runtime.Gosched.
func Yield() { yield() }

// WorkerInfo says who is serving a request.
type WorkerInfo struct {
	Model   string // "process", "thread", "reactor", "browser" or "native"
	Process int    // index of the worker process (the loop index under the reactor)
	Thread  int    // index of the thread within its process (thread model only)
	PID     int    // OS pid of the worker process (0 in a browser)
}

// String formats w the way the playground labels lanes:
// "process 3 (pid 4242)", "thread 2.5 (pid 4242)", "loop 0 (pid 4242)".
// The label of this instance's own Worker() is formatted once: handlers
// print it on every request, and formatting costs a guest more than the
// rest of a small handler.
func (w WorkerInfo) String() string {
	if w == Worker() {
		return workerLabel()
	}
	return w.format()
}

var workerLabel = sync.OnceValue(func() string { return Worker().format() })

func (w WorkerInfo) format() string {
	var s string
	switch w.Model {
	case "process":
		s = fmt.Sprintf("process %d", w.Process)
	case "thread":
		s = fmt.Sprintf("thread %d.%d", w.Process, w.Thread)
	case "reactor":
		s = fmt.Sprintf("loop %d", w.Process)
	default:
		s = w.Model
	}
	if w.PID != 0 {
		s += fmt.Sprintf(" (pid %d)", w.PID)
	}
	return s
}

// Environment variables through which the host tells an instance who it is.
const (
	envModel   = "MPMLAB_MODEL"
	envProcess = "MPMLAB_PROCESS"
	envThread  = "MPMLAB_THREAD"
	envPID     = "MPMLAB_PID"
	envLag     = "MPMLAB_LAG"    // "1": run the loop-lag monitor (reactor)
	envPhases  = "MPMLAB_PHASES" // "0": send no request marks (to measure their cost)
	envGOGC    = "MPMLAB_GOGC"   // the GC percent to collect at, unless GOGC is set
)

// Worker reports who is serving: model, process, thread and OS pid.
// An instance never moves, so the answer is computed once.
func Worker() WorkerInfo { return workerOnce() }

var workerOnce = sync.OnceValue(func() WorkerInfo {
	w := WorkerInfo{Model: os.Getenv(envModel)}
	if w.Model == "" {
		w.Model = defaultModel
	}
	w.Process, _ = strconv.Atoi(os.Getenv(envProcess))
	w.Thread, _ = strconv.Atoi(os.Getenv(envThread))
	w.PID, _ = strconv.Atoi(os.Getenv(envPID))
	if w.PID == 0 && defaultModel == "native" {
		w.PID = os.Getpid()
	}
	if defaultModel == "browser" {
		if b := browserWorker(); b != "" {
			w.Model = b
		}
	}
	return w
})

// Shared is state shared by every instance (thread) of one worker process,
// kept by the host. Processes never share it: each worker process has its
// own. Add is atomic; Get followed by Set is not, which is how a
// read-modify-write race between threads is shown.
var Shared SharedStore

// SharedStore is the type of Shared: named int64 values kept by the host.
type SharedStore struct{}

// Add atomically adds delta to key and returns the new value.
func (SharedStore) Add(key string, delta int64) int64 { return sharedAdd(key, delta) }

// Get returns key's value (0 if never set).
func (SharedStore) Get(key string) int64 { return sharedGet(key) }

// Set stores v under key.
func (SharedStore) Set(key string, v int64) { sharedSet(key, v) }
