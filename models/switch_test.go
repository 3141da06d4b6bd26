package models

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// guestWasm builds an example for wasip1 (the go command's and mpmlab's
// caches make that quick after the first time) and returns its path.
func guestWasm(t testing.TB, example string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a guest with the Go toolchain: not in -short mode")
	}
	src, err := runtime.ExampleSource(example)
	if err != nil {
		t.Fatal(err)
	}
	art, err := (&runtime.Builder{}).Build(context.Background(), src, runtime.TargetWASI)
	if err != nil {
		t.Fatal(err)
	}
	return art.Path
}

// logLines collects a supervisor's log and lets a test wait for a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func newLogLines() *logLines { return &logLines{added: make(chan struct{}, 1)} }

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
}

// wait returns the first line re matches, waiting up to d for it.
func (l *logLines) wait(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	return l.waitNth(t, re, 1, d)
}

// waitNth returns the nth line re matches, waiting up to d for it.
func (l *logLines) waitNth(t *testing.T, re *regexp.Regexp, n int, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		seen := 0
		for _, line := range l.lines {
			if m := re.FindStringSubmatch(line); m != nil {
				if seen++; seen == n {
					l.mu.Unlock()
					return m
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("fewer than %d log lines match %q within %v; the log:\n%s", n, re, d, l)
		}
	}
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// get requests url and returns the status and the worker that answered.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Mpmlab-Worker")
}

// Under ServeWhileCompiling, a guest that is not in the compilation cache
// is served at once on the interpreter, with the models' laws (a crash
// kills its worker, which is replaced); once its machine code is ready,
// every worker is replaced by one running it, and a request in flight in
// an interpreter worker is finished by that worker. The compile is held
// (testHookCompile) until the test has seen the interpreter serve.
func TestServeWhileCompiling(t *testing.T) {
	wasm := guestWasm(t, "crash")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MPMLAB_REAL_WORKER", "1")
	hold := make(chan struct{})
	testHookCompile = func() { <-hold }
	t.Cleanup(func() { testHookCompile = nil })
	log := newLogLines()
	s, err := Start(context.Background(), Config{
		Model: Reactor, Wasm: wasm, Addr: "127.0.0.1:0", CacheDir: t.TempDir(), Executable: exe,
		ServeWhileCompiling: true, Logf: log.logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	released := false
	defer func() {
		if !released {
			close(hold)
		}
	}()
	log.wait(t, regexp.MustCompile(`^serving on the interpreter while the compiler finishes`), time.Second)
	if status, worker := get(t, s.URL()+"/"); status != 200 || !strings.HasSuffix(worker, ", interpreter)") {
		t.Fatalf("before the compile: %d from %q, want 200 from a worker on the interpreter", status, worker)
	}
	select {
	case <-s.Compiled():
		t.Fatal("Compiled closed while the compile is held")
	default:
	}

	// A crash on the interpreter takes its worker down, as on machine code.
	if status, _ := get(t, s.URL()+"/crash"); status != http.StatusBadGateway {
		t.Fatalf("/crash on the interpreter: %d, want 502", status)
	}
	log.wait(t, regexp.MustCompile(`exited: loop 0 crashed: panic: crash requested; starting a replacement`), 10*time.Second)
	// The replacement takes the next connection from the backlog; the
	// dying worker may still refuse one with 503.
	waitAnswer := func() (int, string) {
		for {
			status, worker := get(t, s.URL()+"/")
			if status != http.StatusServiceUnavailable {
				return status, worker
			}
		}
	}
	if status, worker := waitAnswer(); status != 200 || !strings.HasSuffix(worker, ", interpreter)") {
		t.Fatalf("after the crash: %d from %q, want 200 from the replacement on the interpreter", status, worker)
	}

	// A request the interpreter's worker has taken (its handler reads
	// its body, still on the way: the 100 Continue says it asked) when
	// the switch begins is answered by that worker.
	inflight := startRequest(t, s.URL()+"/")
	close(hold)
	released = true
	log.wait(t, regexp.MustCompile(`hands over to pid \d+ and stops after its requests`), time.Minute)
	if status, worker := inflight.finish(); status != 200 || !strings.HasSuffix(worker, ", interpreter)") {
		t.Fatalf("request in flight across the switch: %d from %q, want 200 from the worker on the interpreter that took it", status, worker)
	}
	select {
	case <-s.Compiled():
	case <-time.After(time.Minute):
		t.Fatalf("not switched to compiled code within a minute; the log:\n%s", log)
	}
	log.wait(t, regexp.MustCompile(`^switched to compiled code`), time.Second)
	if status, worker := get(t, s.URL()+"/"); status != 200 || strings.Contains(worker, "interpreter") {
		t.Fatalf("after the switch: %d from %q, want 200 from a worker on machine code", status, worker)
	}
	if !runtime.Cached(filepath.Join(s.Config().CacheDir, "wazero"), mustRead(t, wasm)) {
		t.Error("the compiled module is not recorded as cached")
	}
}

// pendingRequest is a request whose worker is reading its body: the
// client sent the headers with "Expect: 100-continue" and has its answer,
// so a worker has taken the connection and is in the request.
type pendingRequest struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func startRequest(t *testing.T, rawURL string) *pendingRequest {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", u.Path, u.Host)
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", resp, err)
	}
	return &pendingRequest{t: t, conn: conn, br: br}
}

// finish sends the body and returns the status and the worker that
// answered.
func (p *pendingRequest) finish() (int, string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte("ok")); err != nil {
		p.t.Fatal(err)
	}
	p.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Mpmlab-Worker")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkEditToFirstResponse measures what a person waits for after an
// edit: building a handler no one has built (a new comment each time, so
// the go command's cache keeps the standard library but not the handler),
// starting the reactor on it with an empty compilation cache, and its
// first 200. compile-first waits for the machine code, as bench and the
// playground's runs do; serve-while-compiling answers on the interpreter
// meanwhile, as mpmlab run does. build-ms and start-ms split each op.
func BenchmarkEditToFirstResponse(b *testing.B) {
	exe, src := realWorkerBench(b)
	builder := &runtime.Builder{CacheDir: b.TempDir()}
	for _, tc := range []struct {
		name    string
		interim bool
	}{{"compile-first", false}, {"serve-while-compiling", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var build, start time.Duration
			for i := 0; b.Loop(); i++ {
				edited := src
				edited.Files = append([]experiment.File(nil), src.Files...)
				edited.Files[0].Data += fmt.Sprintf("\n// %s %d %d\n", tc.name, i, time.Now().UnixNano())
				t0 := time.Now()
				art, err := builder.Build(context.Background(), edited, runtime.TargetWASI)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				s, err := Start(context.Background(), Config{
					Model: Reactor, Wasm: art.Path, Addr: "127.0.0.1:0", CacheDir: b.TempDir(), Executable: exe,
					ServeWhileCompiling: tc.interim,
				})
				if err != nil {
					b.Fatal(err)
				}
				resp, err := http.Get(s.URL() + "/")
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("first request: %v, %v", resp, err)
				}
				resp.Body.Close()
				t2 := time.Now()
				build += t1.Sub(t0)
				start += t2.Sub(t1)
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(build.Milliseconds())/float64(b.N), "build-ms")
			b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms")
		})
	}
}

// BenchmarkPreforkWorker serves hello under the prefork model (four
// processes, real workers) with eight keep-alive clients and reports what
// each worker process costs: rss-MiB and pss-MiB per process at the end of
// the load (pss counts the pages the workers share once), and the CPU time
// of all of them per request (cpu-us/req, the kernel's accounting). ns/op
// is one request's share of the wall time.
func BenchmarkPreforkWorker(b *testing.B) {
	exe, src := realWorkerBench(b)
	art, err := (&runtime.Builder{}).Build(context.Background(), src, runtime.TargetWASI)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Start(context.Background(), Config{Model: Process, Wasm: art.Path, Addr: "127.0.0.1:0", Executable: exe})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func() {
		resp, err := client.Get(s.URL() + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 100 { // warm up
		get()
	}
	cpu0 := s.CPU()
	b.ResetTimer()
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get()
		}
	})
	b.StopTimer()
	cpu := s.CPU() - cpu0
	var rss, pss int
	pids := s.PIDs()
	for _, pid := range pids {
		rss += ProcessRSS(pid)
		pss += ProcessPSS(pid)
	}
	n := float64(max(len(pids), 1))
	b.ReportMetric(float64(rss)/1024/n, "rss-MiB/process")
	b.ReportMetric(float64(pss)/1024/n, "pss-MiB/process")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/req")
}

// realWorkerBench is the set-up of the benchmarks that start real workers:
// this test binary plays them (TestMain), serving the hello example. It
// skips in -short mode, which builds no guests.
func realWorkerBench(b *testing.B) (exe string, hello experiment.Source) {
	if testing.Short() {
		b.Skip("builds guests with the Go toolchain: not in -short mode")
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("MPMLAB_REAL_WORKER", "1")
	hello, err = runtime.ExampleSource("hello")
	if err != nil {
		b.Fatal(err)
	}
	return exe, hello
}
