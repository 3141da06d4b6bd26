package models

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// eventLog collects a supervisor's events and lets a test wait for them.
type eventLog struct {
	mu     sync.Mutex
	events []stream.Event
	added  chan struct{}
}

func (l *eventLog) add(e stream.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
}

// of returns the events of kind (all of them if kind is "").
func (l *eventLog) of(kind string) []stream.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []stream.Event
	for _, e := range l.events {
		if kind == "" || e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// wait waits up to a minute for n events of kind and returns them.
func (l *eventLog) wait(t *testing.T, kind string, n int) []stream.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if es := l.of(kind); len(es) >= n {
			return es
		}
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("%d %s events within a minute, want %d", len(l.of(kind)), kind, n)
		}
	}
}

// startCPU serves the cpu example under cfg's model with real workers and
// tracing, the events going to the returned log.
func startCPU(t *testing.T, cfg Config) (*Supervisor, *eventLog) {
	t.Helper()
	wasm := guestWasm(t, "cpu")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MPMLAB_REAL_WORKER", "1")
	log := &eventLog{added: make(chan struct{}, 1)}
	cfg.Wasm, cfg.Addr, cfg.Executable, cfg.Trace, cfg.OnEvent = wasm, "127.0.0.1:0", exe, true, log.add
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

type answer struct {
	status int
	body   string
	err    error
}

// fetch GETs url on a connection of its own.
func fetch(url string) answer {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), err}
}

// fetchAll GETs url n times at once.
func fetchAll(url string, n int) <-chan answer {
	ch := make(chan answer, n)
	for range n {
		go func() { ch <- fetch(url) }()
	}
	return ch
}

// waitReq waits up to a minute for the event of kind (req_run, req_end)
// of the request whose URI is path, and returns it.
func (l *eventLog) waitReq(t *testing.T, kind, path string) stream.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		paths := map[uint64]string{}
		for _, e := range l.of(stream.EventReqStart) {
			paths[e.Req] = e.Path
		}
		for _, e := range l.of(kind) {
			if paths[e.Req] == path {
				return e
			}
		}
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("no %s event for %s within a minute", kind, path)
		}
	}
}

// Under one reactor loop with a pool of 4 threads (libuv's default), 8
// concurrent requests that compute 200 ms on the pool: 4 tasks start at
// once, the other 4 wait in the queue and start only as the first ones are
// done; a fast request sent meanwhile is answered before any is done,
// because the loop is free while they compute.
func TestPoolReactor(t *testing.T) {
	s, log := startCPU(t, Config{Model: Reactor, Loops: 1, ThreadPoolThreads: 4})
	slow := fetchAll(s.URL()+"/?ms=200&pool=1", 8)
	log.wait(t, stream.EventPoolStart, 4)
	if a := fetch(s.URL() + "/hello"); a.err != nil || a.status != 200 {
		t.Fatalf("/hello: %+v", a)
	}
	for range 8 {
		if a := <-slow; a.err != nil || a.status != 200 || !strings.HasPrefix(a.body, "computed 200ms on the thread pool of loop 0") {
			t.Fatalf("pool request: %+v", a)
		}
	}
	starts := log.wait(t, stream.EventPoolStart, 8)
	dones := log.wait(t, stream.EventPoolDone, 8)
	byT := func(a, b stream.Event) int { return int(a.T - b.T) }
	slices.SortFunc(starts, byT)
	slices.SortFunc(dones, byT)
	hello := log.waitReq(t, stream.EventReqEnd, "/hello")
	if hello.T >= dones[0].T {
		t.Errorf("/hello was answered %v after the first pool task was done: the loop was not free", time.Duration(hello.T-dones[0].T))
	}
	threads := map[int]bool{}
	for i, e := range starts {
		switch {
		case i < 4 && e.T >= dones[0].T:
			t.Errorf("task %d of the first four started %v after the first was done", e.Task, time.Duration(e.T-dones[0].T))
		case i >= 4 && e.T < dones[0].T:
			t.Errorf("task %d, the %dth to start, started %v before any was done: more than 4 threads", e.Task, i+1, time.Duration(dones[0].T-e.T))
		case i >= 4 && e.Wait <= 0:
			t.Errorf("task %d started without waiting in the queue: %+v", e.Task, e)
		}
		if i < 4 {
			threads[e.PoolThread] = true
		}
		if e.Work != "compute" || e.Req == 0 || !strings.HasPrefix(e.Where, "main.go:") || e.PoolThread < 1 || e.PoolThread > 4 {
			t.Errorf("pool_start %+v", e)
		}
	}
	if len(threads) != 4 {
		t.Errorf("the first four tasks ran on threads %v, want 1 to 4", threads)
	}
	var waited []int
	for _, e := range log.of(stream.EventPoolQueue) {
		if e.Queued > 0 {
			waited = append(waited, e.Queued)
		}
	}
	slices.Sort(waited)
	if !slices.Equal(waited, []int{1, 2, 3, 4}) {
		t.Errorf("queue lengths of the tasks that waited: %v, want [1 2 3 4]", waited)
	}
	// The counters (status, stats) catch up within a trace interval.
	for s.Pool().Done < 8 {
		log.wait(t, stream.EventPool, len(log.of(stream.EventPool))+1)
	}
	if p := s.Pool(); p != (PoolStatus{Threads: 4, Done: 8}) {
		t.Errorf("pool status %+v", p)
	}
}

// With max_queue 2, 8 concurrent requests on 4 threads: 4 run, 2 wait and
// 2 fail at once with nginx's message, counted as overflows.
func TestPoolOverflow(t *testing.T) {
	s, log := startCPU(t, Config{Model: Reactor, Loops: 1, ThreadPoolThreads: 4, ThreadPoolMaxQueue: 2})
	answers := fetchAll(s.URL()+"/?ms=500&pool=1", 8)
	var ok, refused int
	for range 8 {
		switch a := <-answers; {
		case a.err == nil && a.status == 200:
			ok++
		case a.err == nil && a.status == 500 && strings.Contains(a.body, `thread pool "default" queue overflow: 2 tasks waiting`):
			refused++
		default:
			t.Errorf("pool request: %+v", a)
		}
	}
	if ok != 6 || refused != 2 {
		t.Fatalf("%d served and %d refused, want 6 and 2", ok, refused)
	}
	for _, e := range log.wait(t, stream.EventPoolOverflow, 2) {
		if e.Queued != 2 || e.Cause != `thread pool "default" queue overflow: 2 tasks waiting` || e.Req == 0 {
			t.Errorf("pool_overflow %+v", e)
		}
	}
	for s.Pool().Overflows < 2 || s.Pool().Done < 6 {
		log.wait(t, stream.EventPool, len(log.of(stream.EventPool))+1)
	}
	if p := s.Pool(); p.Overflows != 2 || p.Done != 6 {
		t.Errorf("pool status %+v", p)
	}
}

// A request that computes 200 ms in 10 ms slices with guest.Yield between
// them lets a fast request sent meanwhile run before it ends; one that
// computes 200 ms at once does not. Both are read from the loop's own marks:
// when each handler first ran, and for how long the slow one served.
func TestYieldReactor(t *testing.T) {
	s, log := startCPU(t, Config{Model: Reactor, Loops: 1})
	for _, tc := range []struct {
		path   string
		served bool // /hello runs before the slow handler returns
	}{
		{"/?ms=200", false},
		{"/?ms=200&yield=10", true},
	} {
		slow := fetchAll(s.URL()+tc.path, 1)
		slowRun := log.waitReq(t, stream.EventReqRun, tc.path)
		hello := "/hello?after=" + tc.path
		if a := fetch(s.URL() + hello); a.err != nil || a.status != 200 {
			t.Fatalf("/hello: %+v", a)
		}
		if a := <-slow; a.err != nil || a.status != 200 {
			t.Fatalf("%s: %+v", tc.path, a)
		}
		returned := slowRun.T + log.waitReq(t, stream.EventReqEnd, tc.path).Service
		helloRun := log.waitReq(t, stream.EventReqRun, hello)
		if served := helloRun.T < returned; served != tc.served {
			t.Errorf("under %s, /hello ran %v after the slow handler returned; want it before: %v", tc.path, time.Duration(helloRun.T-returned), tc.served)
		}
	}
}
