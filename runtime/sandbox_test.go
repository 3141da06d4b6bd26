package runtime

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

var (
	engineOnce sync.Once
	engine     *Engine
	engineErr  error
	modules    sync.Map // example name → *Module
)

// skipBuilds skips a test that builds a guest with the Go toolchain (seconds
// each, a minute cold) in -short mode, the unit tests' inner loop.
func skipBuilds(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a guest with the Go toolchain: not in -short mode")
	}
}

// exampleModule builds and compiles an example once per test binary.
func exampleModule(t testing.TB, name string) *Module {
	t.Helper()
	skipBuilds(t)
	if m, ok := modules.Load(name); ok {
		return m.(*Module)
	}
	engineOnce.Do(func() {
		engine, engineErr = NewEngine(context.Background(), EngineConfig{MemoryLimit: 64 << 20})
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	m, err := engine.Compile(context.Background(), exampleWasm(t, name))
	if err != nil {
		t.Fatal(err)
	}
	modules.Store(name, m)
	return m
}

// exampleWasm builds an example for wasip1 (a cache hit after the first
// time) and returns the module.
func exampleWasm(t testing.TB, name string) []byte {
	t.Helper()
	skipBuilds(t)
	src, err := ExampleSource(name)
	if err != nil {
		t.Fatal(err)
	}
	return buildWasm(t, src)
}

// buildWasm builds src for wasip1 and returns the module.
func buildWasm(t testing.TB, src experiment.Source) []byte {
	t.Helper()
	art, err := (&Builder{}).Build(context.Background(), src, TargetWASI)
	if err != nil {
		t.Fatalf("building %s: %v", src.Files[0].Name, err)
	}
	wasm, err := os.ReadFile(art.Path)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func startInstance(t testing.TB, name string, cfg InstanceConfig) *Instance {
	t.Helper()
	return startModule(t, exampleModule(t, name), cfg)
}

func startModule(t testing.TB, m *Module, cfg InstanceConfig) *Instance {
	t.Helper()
	inst, err := m.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inst.Close()
		select {
		case <-inst.Done():
		case <-time.After(5 * time.Second):
			inst.Abort()
		}
	})
	return inst
}

// guestWasm builds a handler whose only file is main.go (code) for
// wasip1 and returns the module.
func guestWasm(t testing.TB, code string) []byte {
	t.Helper()
	skipBuilds(t)
	return buildWasm(t, mainGo(code))
}

// startGuest builds code as main.go, compiles it on the shared engine and
// starts an instance of it, ended when the test ends (as startInstance).
func startGuest(t testing.TB, code string, cfg InstanceConfig) *Instance {
	t.Helper()
	exampleModule(t, "hello") // the shared engine
	m, err := engine.Compile(context.Background(), guestWasm(t, code))
	if err != nil {
		t.Fatal(err)
	}
	return startModule(t, m, cfg)
}

func get(t testing.TB, inst *Instance, uri string) (*abi.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return inst.Do(ctx, &abi.Request{Method: "GET", URI: uri, Host: "test"})
}

func TestInstanceServesRequests(t *testing.T) {
	inst := startInstance(t, "hello", InstanceConfig{Env: []string{"MPMLAB_MODEL=process", "MPMLAB_PROCESS=3", "MPMLAB_PID=4242"}})
	for i := 0; i < 3; i++ {
		resp, err := get(t, inst, "/")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || string(resp.Body) != "hello from process 3 (pid 4242)\n" {
			t.Fatalf("got %d %q", resp.Status, resp.Body)
		}
		// The guest leaves sniffing to the host's net/http, which sniffs
		// the bytes as it writes them, as it would natively.
		if ct, ok := resp.Header["Content-Type"]; ok {
			t.Fatalf("the guest set Content-Type %q", ct)
		}
	}
}

// The guest is a cooperative loop: time.Sleep parks one goroutine, so 100
// sleeping requests overlap in one instance.
func TestSleepingRequestsOverlap(t *testing.T) {
	inst := startInstance(t, "sleep", InstanceConfig{})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := get(t, inst, "/")
			if err == nil && resp.Status != 200 {
				err = fmt.Errorf("status %d", resp.Status)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 100 × 50 ms serially would be 5 s.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("100 concurrent 50ms sleeps took %v: they did not overlap", d)
	}
}

// guest.Block holds the whole instance: requests are served one at a time.
func TestBlockHoldsInstance(t *testing.T) {
	var mu sync.Mutex
	blocked, maxBlocked := 0, 0
	inst := startInstance(t, "blocking", InstanceConfig{OnBlock: func(b bool) {
		mu.Lock()
		defer mu.Unlock()
		if b {
			blocked++
		} else {
			blocked--
		}
		maxBlocked = max(maxBlocked, blocked)
	}})
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, inst, "/") }()
	}
	wg.Wait()
	if d := time.Since(start); d < 6*50*time.Millisecond*8/10 {
		t.Fatalf("6 blocking requests took %v: the instance was not held", d)
	}
	if maxBlocked != 1 {
		t.Fatalf("max concurrently blocked = %d, want 1", maxBlocked)
	}
}

func TestCrashFailsInFlightRequests(t *testing.T) {
	var logged []string
	var mu sync.Mutex
	inst := startInstance(t, "crash", InstanceConfig{Log: func(stream, line string) {
		mu.Lock()
		logged = append(logged, stream+": "+line)
		mu.Unlock()
	}})
	if _, err := get(t, inst, "/"); err != nil {
		t.Fatal(err)
	}
	_, err := get(t, inst, "/crash")
	ee, ok := err.(*ExitError)
	if !ok || ee.Code == 0 || !strings.Contains(ee.Cause, "panic: crash requested") {
		t.Fatalf("err = %#v, want an ExitError with the panic", err)
	}
	<-inst.Done()
	if _, err := get(t, inst, "/"); err == nil {
		t.Fatal("a crashed instance served a request")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logged, "\n"), "stderr: panic: crash requested") {
		t.Fatalf("guest stderr not captured: %q", logged)
	}
}

func TestMemoryLimit(t *testing.T) {
	inst := startInstance(t, "memory", InstanceConfig{})
	_, err := get(t, inst, "/grow")
	ee, ok := err.(*ExitError)
	if !ok || !strings.Contains(ee.Cause, "out of memory") {
		t.Fatalf("err = %v, want out of memory", err)
	}
}

func TestSharedAndGlobals(t *testing.T) {
	shared := NewShared()
	a := startInstance(t, "counter", InstanceConfig{Shared: shared})
	b := startInstance(t, "counter", InstanceConfig{Shared: shared})
	get(t, a, "/")
	get(t, a, "/")
	resp, err := get(t, b, "/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(resp.Body), "global 1, shared 3") {
		t.Fatalf("got %q: want instance-local global 1 and shared 3", resp.Body)
	}
}

func TestCloseEndsGuest(t *testing.T) {
	inst, err := exampleModule(t, "hello").Start(context.Background(), InstanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	inst.Close()
	select {
	case <-inst.Done():
		if ee := inst.Err().(*ExitError); ee.Code != 0 {
			t.Fatalf("clean close exited with %v", ee)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("guest did not exit after Close")
	}
}

// BenchmarkInstanceDo measures one request's round trip into a guest, with
// the per-request bookkeeping (phases: the timeline's marks) and without.
// BenchmarkInstanceDo measures one hello request through an instance, the
// host's half and the guest's: ns/op is its latency, one at a time, and
// cpu-ns/op the CPU time the process spent on it (getrusage: every thread,
// so wake-ups and the guest's garbage collector count too). native-handler
// is the baseline to divide by: the same handler run natively.
func BenchmarkInstanceDo(b *testing.B) {
	for _, bc := range []struct {
		name     string
		noPhases bool
	}{{"phases", false}, {"nophases", true}} {
		b.Run(bc.name, func(b *testing.B) {
			inst := startInstance(b, "hello", InstanceConfig{NoPhases: bc.noPhases, Env: benchEnv()})
			req := &abi.Request{Method: "GET", URI: "/", Host: "bench"}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := inst.Do(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
	// The baseline: the hello handler's code run natively, with the same
	// request, through net/http's mux and a response recorder (no socket,
	// as Instance.Do has none).
	b.Run("native-handler", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s\n", "loop 0 (pid 4242)")
		})
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			req := httptest.NewRequest("GET", "/", nil)
			mux.ServeHTTP(httptest.NewRecorder(), req)
		}
		cpu.report(b)
	})
}

// benchEnv is the guest environment of the benchmarks: MPMLAB_BENCH_ENV,
// space-separated, to try a setting (GOGC=400) without editing the code.
func benchEnv() []string { return strings.Fields(os.Getenv("MPMLAB_BENCH_ENV")) }

// cpuClock measures the process's CPU time over a benchmark loop.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{processCPU()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInstanceDoParallel is BenchmarkInstanceDo with requests in
// flight at once, as a loop under load serves them.
func BenchmarkInstanceDoParallel(b *testing.B) {
	inst := startInstance(b, "hello", InstanceConfig{Env: benchEnv()})
	b.SetParallelism(16)
	cpu := startCPU()
	defer cpu.report(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := inst.Do(context.Background(), &abi.Request{Method: "GET", URI: "/"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The SDK serves a goroutine's requests with one response writer in turn:
// nothing of one response (status, headers, body, a large body's buffer)
// reaches the next, and request bodies arrive whole.
func TestResponsesDoNotLeak(t *testing.T) {
	inst := startGuest(t, `package main

import (
	"io"
	"net/http"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Once", "1")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "set")
	})
	http.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("b", 100<<10))
	})
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	guest.Serve(nil)
}
`, InstanceConfig{})
	do := func(uri, body string) *abi.Response {
		t.Helper()
		resp, err := inst.Do(context.Background(), &abi.Request{Method: "POST", URI: uri, Host: "t", Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for range 3 { // one goroutine serves them all, one after another
		if r := do("/set", ""); r.Status != 201 || r.Header.Get("X-Once") != "1" || string(r.Body) != "set" {
			t.Fatalf("/set: %d %v %q", r.Status, r.Header, r.Body)
		}
		if r := do("/", ""); r.Status != 200 || len(r.Header) != 0 || len(r.Body) != 0 {
			t.Fatalf("/ after /set: %d %v %q, want a fresh 200 with nothing", r.Status, r.Header, r.Body)
		}
		if r := do("/big", ""); len(r.Body) != 100<<10 {
			t.Fatalf("/big: %d bytes", len(r.Body))
		}
		if r := do("/echo", "ping"); string(r.Body) != "ping" {
			t.Fatalf("/echo: %q, want the request's body", r.Body)
		}
	}
}

// The SDK parses a URI it served last only once: the requests that follow
// with the same URI get their own copy of its URL, which a handler may
// change without the next request seeing it, and a different URI is parsed
// for itself.
func TestRequestURLsAreOwnCopies(t *testing.T) {
	inst := startGuest(t, `package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s?%s", r.URL.Path, r.URL.RawQuery)
		r.URL.Path, r.URL.RawQuery = "/changed", "by=handler"
	})
	guest.Serve(nil)
}
`, InstanceConfig{})
	for _, c := range []struct{ uri, want string }{
		{"/a?x=1", "/a?x=1"}, {"/a?x=1", "/a?x=1"}, {"/b", "/b?"}, {"/a?x=1", "/a?x=1"},
		{"%zz", "/?"}, // not a request URI: served as "/", as before
		{"/b", "/b?"},
	} {
		resp, err := get(t, inst, c.uri)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != c.want {
			t.Fatalf("%s: the handler saw %q, want %q", c.uri, resp.Body, c.want)
		}
	}
}

// A guest's linear memory grows in place, inside one mapping of its limit
// (memory_mmap.go), instead of being copied into a larger Go slice.
func TestLinearMemoryGrowsInPlace(t *testing.T) {
	if (&instanceMemory{}).allocator() == nil {
		t.Skip("wazero's own allocator on this OS")
	}
	inst := startGuest(t, `package main

import (
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

var hoard [][]byte

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8<<20)
		b[len(b)-1] = 1
		hoard = append(hoard, b)
	})
	guest.Serve(nil)
}
`, InstanceConfig{})
	base := func() (*byte, uint32) {
		mem := inst.mod.Memory()
		b, _ := mem.Read(0, 1)
		return unsafe.SliceData(b), mem.Size()
	}
	p0, size0 := base()
	for range 2 {
		if _, err := get(t, inst, "/"); err != nil {
			t.Fatal(err)
		}
	}
	p1, size1 := base()
	if size1 < size0+16<<20 {
		t.Fatalf("memory grew from %d to %d bytes, want 16 MiB more", size0, size1)
	}
	if p1 != p0 {
		t.Errorf("linear memory moved from %p to %p as it grew", p0, p1)
	}
}

// Reading tells when a guest has started up: its main reads requests.
func TestInstanceReading(t *testing.T) {
	inst := startInstance(t, "hello", InstanceConfig{})
	select {
	case <-inst.Loop().Reading():
	case <-time.After(30 * time.Second):
		t.Fatal("the guest never read the request fd")
	}
	if _, err := get(t, inst, "/"); err != nil {
		t.Fatal(err)
	}
}
