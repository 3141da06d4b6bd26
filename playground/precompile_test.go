package playground

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// workerServer is a playground whose worker processes are this test
// binary (TestMain), served on a loopback port, and its log.
func workerServer(tb testing.TB) (*Server, *httptest.Server, *logBuffer) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := New(Config{DataDir: tb.TempDir(), CacheDir: tb.TempDir(), Executable: exe, Logf: logs.logf})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s)
	tb.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv, logs
}

// editedHello is the hello example with a one-line edit that makes it a
// new source (a new build, a new module).
func editedHello(tb testing.TB, edit string) experiment.Source {
	tb.Helper()
	src, err := runtime.ExampleSource("hello")
	if err != nil {
		tb.Fatal(err)
	}
	return experiment.Source{Files: []experiment.File{{Name: "main.go", Data: string(src.Files[0].Data) + "\n// edit " + edit + "\n"}}}
}

// apiPost posts v as JSON and decodes a 2xx answer into out.
func apiPost(tb testing.TB, srv *httptest.Server, path string, v, out any) {
	tb.Helper()
	if err := postJSON(srv, path, v, out); err != nil {
		tb.Fatal(err)
	}
}

// postJSON is apiPost for a goroutine other than the test's: it returns
// what went wrong.
func postJSON(srv *httptest.Server, path string, v, out any) error {
	body, _ := json.Marshal(v)
	resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e errorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// runOf is the experiment firstAnswer runs: src on the reactor, one
// client.
func runOf(src experiment.Source) experiment.Experiment {
	return experiment.Experiment{Source: src, Model: "reactor", Load: experiment.Load{Concurrency: 1, Requests: 200}}
}

// buildAhead does what the page does on a pause in typing (POST
// /api/build with the experiment it would run) and waits, as the person
// reads their code, until the module is compiled to machine code in the
// cache and the Run's worker has started ahead.
func buildAhead(tb testing.TB, s *Server, srv *httptest.Server, src experiment.Source) {
	tb.Helper()
	var built buildResponse
	apiPost(tb, srv, "/api/build", runOf(src), &built)
	module, err := os.ReadFile(filepath.Join(s.cfg.CacheDir, "wasm", built.Hash+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	// As the page does after a build: wait for the compile the build
	// started in the background, which must then be in the cache.
	var compiled buildResponse
	apiPost(tb, srv, "/api/build?wait=compiled", runOf(src), &compiled)
	if !compiled.Compiled || compiled.Hash != built.Hash {
		tb.Fatalf("/api/build?wait=compiled answered %+v after %+v, want the same module compiled", compiled, built)
	}
	if !runtime.Cached(filepath.Join(s.cfg.CacheDir, "wazero"), module) {
		tb.Fatal("/api/build?wait=compiled said compiled, but the module's machine code is not in the cache")
	}
	if _, err := os.Stat(runtime.PackedPath(filepath.Join(s.cfg.CacheDir, "wazero"), module)); err != nil {
		tb.Fatalf("/api/build?wait=compiled said compiled, but the module is not packed for the workers: %v", err)
	}
	if n := s.standby.Waiting(); n != 1 {
		tb.Fatalf("/api/build?wait=compiled of a reactor run answered with %d workers started ahead, want 1", n)
	}
}

// firstAnswer runs src on the reactor, as the page's Run does, and returns
// the time from the run's creation to its first answered request (its
// first req_end in the stream); then it stops the run and waits for its
// end.
func firstAnswer(tb testing.TB, srv *httptest.Server, src experiment.Source) time.Duration {
	tb.Helper()
	e := runOf(src)
	start := time.Now()
	var created struct{ ID string }
	apiPost(tb, srv, "/api/runs", e, &created)
	resp, err := http.Get(srv.URL + "/api/runs/" + created.ID + "/events")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var answered time.Duration
	var event string
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch event {
		case "trace":
			if answered == 0 && strings.Contains(data, `"req_end"`) {
				answered = time.Since(start)
				apiPost(tb, srv, "/api/runs/"+created.ID+"/stop", nil, nil)
			}
		case "done":
			if answered == 0 {
				tb.Fatalf("the run ended with no answered request: %s", data)
			}
			return answered
		}
	}
	tb.Fatalf("the stream ended with no done event (%v)", sc.Err())
	return 0
}

// A source built on a pause in typing is compiled to machine code in the
// background and the Run's worker started ahead, so that its Run answers
// without waiting for a compile or a worker's load: far sooner than a Run
// of a source never built before, measured in the same test, whose worker
// starts cold.
func TestBuildPrecompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds handlers and starts worker processes")
	}
	s, srv, logs := workerServer(t)
	ahead := editedHello(t, "built ahead")
	buildAhead(t, s, srv, ahead)
	warm := firstAnswer(t, srv, ahead)
	if !strings.Contains(logs.String(), "(started ahead)") {
		t.Fatalf("the Run of a source built ahead spawned its loop cold:\n%s", logs)
	}
	cold := firstAnswer(t, srv, editedHello(t, "built at Run"))
	if n := strings.Count(logs.String(), "(started ahead)"); n != 1 {
		t.Fatalf("%d workers started ahead over a Run built ahead and one built at Run, want 1:\n%s", n, logs)
	}
	t.Logf("first answer: %v built ahead, %v built and compiled at Run", warm.Round(time.Millisecond), cold.Round(time.Millisecond))
	if warm > cold/2 {
		t.Fatalf("a Run of a source built ahead answered in %v, a Run that builds and compiles in %v: want under half", warm, cold)
	}
}

// BenchmarkEditToAnswer measures edit to answer as a person feels it: a
// one-line edit, then Run, to the edited handler's first response (from
// Run). "pause-2s" is issue 17's case, the page's way with a person who
// stops typing for two seconds before Run: the page builds the source
// after experiment.CheckPause and its compile goes on in the background,
// and Run comes 2 s after the edit, done or not ("ready-ms": when, after
// the edit, the build and the compile were done). "typed-on" is the same
// after a pause of 0.7 s mid-edit, whose half-typed line is built and
// compiled while the edit is finished. "ahead" is the page's
// way once the compile is done, however long that took; "at-run" builds
// and compiles at Run, the baseline.
//
//	go test -run '^$' -bench EditToAnswer -benchtime 5x ./playground
func BenchmarkEditToAnswer(b *testing.B) {
	for _, name := range []string{"pause-2s", "typed-on", "ahead", "at-run"} {
		b.Run(name, func(b *testing.B) {
			s, srv, _ := workerServer(b)
			firstAnswer(b, srv, editedHello(b, "warm-up "+name)) // the standard library, built once
			var total, ready time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				src := editedHello(b, fmt.Sprintf("%s %d %d", name, i, time.Now().UnixNano()))
				var built <-chan builtAt
				switch name {
				case "ahead":
					buildAhead(b, s, srv, src)
				case "typed-on":
					// A pause of 0.7 s mid-edit: the half-typed line is
					// built, and compiled while the edit is finished.
					half := editedHello(b, fmt.Sprintf("%s %d %d half", name, i, time.Now().UnixNano()))
					time.Sleep(experiment.CheckPause)
					halfBuilt := make(chan error, 1)
					go func() { halfBuilt <- postJSON(srv, "/api/build", runOf(half), nil) }()
					defer func() {
						if err := <-halfBuilt; err != nil {
							b.Error(err)
						}
					}()
					time.Sleep(700*time.Millisecond - experiment.CheckPause)
					fallthrough
				case "pause-2s":
					edited := time.Now()
					time.Sleep(experiment.CheckPause) // the person's pause, as the page waits for it
					built = buildInBackground(srv, src, edited)
					time.Sleep(2*time.Second - time.Since(edited)) // the rest of it
				}
				b.StartTimer()
				total += firstAnswer(b, srv, src)
				if built != nil {
					r := <-built
					if r.err != nil {
						b.Fatal(r.err)
					}
					ready += r.after
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-answer")
			if ready > 0 {
				b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms")
			}
		})
	}
}

// builtAt is when, after the edit, a background build and its compile
// were done, or why they failed.
type builtAt struct {
	after time.Duration
	err   error
}

// buildInBackground does what the page does on a pause in typing: it
// builds src (POST /api/build), then waits for the build's background
// compile (?wait=compiled), and sends when that was done after edited.
func buildInBackground(srv *httptest.Server, src experiment.Source, edited time.Time) <-chan builtAt {
	c := make(chan builtAt, 1)
	go func() {
		for _, path := range []string{"/api/build", "/api/build?wait=compiled"} {
			if err := postJSON(srv, path, runOf(src), nil); err != nil {
				c <- builtAt{err: err}
				return
			}
		}
		c <- builtAt{after: time.Since(edited)}
	}()
	return c
}

// The workers a Run takes are started ahead again once it ends, so that
// the next Run of the same source starts at once too; a build whose
// experiment does not validate builds, and starts nothing ahead.
func TestRunAgainStartsAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("builds handlers and starts worker processes")
	}
	s, srv, logs := workerServer(t)
	src := editedHello(t, "run twice")
	buildAhead(t, s, srv, src)
	firstAnswer(t, srv, src)
	deadline := time.Now().Add(time.Minute)
	for s.standby.Waiting() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after a Run took the worker started ahead, %d wait, want 1 again", s.standby.Waiting())
		}
		time.Sleep(10 * time.Millisecond)
	}
	firstAnswer(t, srv, src)
	if n := strings.Count(logs.String(), "(started ahead)"); n != 2 {
		t.Fatalf("%d workers started ahead over two Runs, want 2:\n%s", n, logs)
	}

	bad := runOf(editedHello(t, "bad knobs"))
	bad.Knobs.ThreadsPerChild = 1000
	var built buildResponse
	apiPost(t, srv, "/api/build?wait=compiled", bad, &built)
	if !built.Compiled {
		t.Fatalf("a build whose experiment does not validate answered %+v, want it built and compiled", built)
	}
	if strings.Contains(logs.String(), "starting workers ahead") {
		t.Fatalf("an invalid experiment's workers were started ahead:\n%s", logs)
	}
}

// A build of a source already being compiled, for another model or other
// knobs, is not lost: the latest Run's workers are the ones started ahead.
func TestPrecompileRunsTheLatestThen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a handler and compiles it")
	}
	s, _, _ := workerServer(t)
	art, err := s.build(context.Background(), editedHello(t, "then"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newPrecompiler(context.Background(), s.cfg.CacheDir)
	var mu sync.Mutex
	var ran []string
	then := func(name string) func(context.Context) {
		return func(context.Context) {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, name)
		}
	}
	p.start(art.Path, "", then("reactor"))
	p.start(art.Path, "", then("process"))
	p.await(context.Background(), art.Path)
	p.wait()
	mu.Lock()
	defer mu.Unlock()
	if len(ran) == 0 || ran[len(ran)-1] != "process" {
		t.Fatalf("after two builds of one module, what followed its compile: %v; want the second's last", ran)
	}
}

// A newer build stops the compile of an older module, whose machine code
// the person no longer needs, as it begins, unless it is of the same
// source or a run waits for it.
func TestPrecompileStopsTheSupersededCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds handlers and compiles them")
	}
	s, _, _ := workerServer(t)
	var paths []string
	for _, name := range []string{"older", "newer", "newest"} {
		art, err := s.build(context.Background(), editedHello(t, "superseded "+name), nil)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, art.Path)
	}
	older, newer, newest := paths[0], paths[1], paths[2]
	cached := func(path string) bool {
		module, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.Cached(filepath.Join(s.cfg.CacheDir, "wazero"), module)
	}
	p := newPrecompiler(context.Background(), s.cfg.CacheDir)
	defer p.wait()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			p.mu.Lock()
			ok := cond()
			p.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("a minute without %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ctx := context.Background()

	c := p.start(older, "older", nil)
	waitUntil("the older module's compile", func() bool { return p.compiling == older })
	p.supersede("newer") // its build begins
	if c.wait(ctx) || cached(older) {
		t.Fatal("the older module's compile went on after a newer build began")
	}
	n := p.start(newer, "newer", nil)
	if !n.wait(ctx) || !cached(newer) {
		t.Fatal("the newer module was not compiled")
	}

	// A build of the same source (another model) leaves it be, and so
	// does a newer build while a run waits for it.
	c = p.start(older, "older", nil)
	waitUntil("the older module's compile", func() bool { return p.compiling == older })
	p.supersede("older")
	go p.await(ctx, older)
	waitUntil("the run's wait", func() bool { return p.runs[older] == 1 })
	n = p.start(newest, "newest", nil)
	if !c.wait(ctx) || !cached(older) {
		t.Fatal("a compile a run waited for was stopped by a newer build")
	}
	if !n.wait(ctx) || !cached(newest) {
		t.Fatal("the newest module was not compiled")
	}
}

// The memory a background compile used is kept while compiles follow one
// another (the next compile reuses it instead of faulting it in again),
// and handed back once they have been quiet for a while.
func TestPrecompileKeepsItsMemoryUntilQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a handler and compiles it")
	}
	s, _, _ := workerServer(t)
	var paths []string
	for _, name := range []string{"first", "second"} {
		art, err := s.build(context.Background(), editedHello(t, "kept "+name), nil)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, art.Path)
	}
	debug.FreeOSMemory() // what the builds left
	p := newPrecompiler(context.Background(), s.cfg.CacheDir)
	defer p.wait()
	released := make(chan struct{}, 1)
	p.release = func() { debug.FreeOSMemory(); nonBlockingSend(released) }
	p.releaseAfter = time.Hour

	if !p.start(paths[0], "first", nil).wait(context.Background()) {
		t.Fatal("the module was not compiled")
	}
	// A compile's garbage is tens of MB; the test's own, a few. (A
	// collection makes it free pages, which only a release hands back.)
	goruntime.GC()
	if held := heapHeld(); held < 32 {
		t.Fatalf("right after a compile, the heap holds %.1f MB; want the compile's memory kept (32 MB or more)", held)
	}

	// A later compile, quiet after it: its memory goes back.
	p.mu.Lock()
	p.releaseAfter = 10 * time.Millisecond
	p.mu.Unlock()
	if !p.start(paths[1], "second", nil).wait(context.Background()) {
		t.Fatal("the second module was not compiled")
	}
	select {
	case <-released:
	case <-time.After(time.Minute):
		t.Fatal("a minute after the last compile, its memory was not handed back")
	}
	if held := heapHeld(); held >= 32 {
		t.Fatalf("after the release, the heap still holds %.1f MB", held)
	}
}

// A Run that compiles its module itself (no check built it first) keeps
// the compile's memory for the precompiler too, which hands it back once
// compiles have been quiet.
func TestRunKeepsItsCompileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a handler, compiles it and runs it")
	}
	s, srv, _ := workerServer(t)
	released := make(chan struct{}, 1)
	s.pre.mu.Lock()
	s.pre.release = func() { debug.FreeOSMemory(); nonBlockingSend(released) }
	s.pre.releaseAfter = time.Hour
	s.pre.mu.Unlock()
	src := editedHello(t, "run keeps")
	art, err := s.build(context.Background(), src, nil) // what the Run's build finds
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(art.Path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.Cached(filepath.Join(s.cfg.CacheDir, "wazero"), module) {
		t.Fatal("the module is compiled before its Run")
	}
	debug.FreeOSMemory()

	firstAnswer(t, srv, src) // its Start compiles it
	goruntime.GC()
	if held := heapHeld(); held < 32 {
		t.Fatalf("after a Run that compiled, the heap holds %.1f MB; want the compile's memory kept (32 MB or more)", held)
	}
	s.pre.mu.Lock()
	s.pre.releaseAfter = 10 * time.Millisecond
	s.pre.mu.Unlock()
	s.pre.compiledElsewhere() // as the next Run's Start would
	select {
	case <-released:
	case <-time.After(time.Minute):
		t.Fatal("a minute after the Run's compile, its memory was not handed back")
	}
}

// heapHeld is the heap memory, in MB, that the process holds from the
// system, in use or not (Go's accounting, not the kernel's: RSS would
// count the binary and other tests' goroutines).
func heapHeld() float64 {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return float64(m.HeapSys-m.HeapReleased) / (1 << 20)
}

// nonBlockingSend sends on c unless it is full.
func nonBlockingSend(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
