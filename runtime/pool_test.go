package runtime

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

// slicesGuest computes in slices of ?ms= (n of them), doing ?mode= between
// slices, and says how many /fast requests were served meanwhile (the
// guest is one thread: the count is exact); it answers /fast at once and
// runs /pool's work on the pool.
const slicesGuest = `package main

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

var fastServed int

func main() {
	// No garbage collection: an allocation's GC assist may park a
	// goroutine, and a park lets the loop poll.
	debug.SetGCPercent(-1)
	http.HandleFunc("/slices", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		ms, _ := strconv.Atoi(q.Get("ms"))
		fast := fastServed
		for i := 0; i < n; i++ {
			guest.Compute(time.Duration(ms) * time.Millisecond)
			switch q.Get("mode") {
			case "gosched":
				runtime.Gosched()
			case "sleep1ns":
				time.Sleep(time.Nanosecond)
			case "sleep100us":
				time.Sleep(100 * time.Microsecond)
			case "yield":
				guest.Yield()
			}
		}
		fmt.Fprintf(w, "%d fast served meanwhile", fastServed-fast)
	})
	http.HandleFunc("/yields", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := 0; i < n; i++ {
			guest.Yield()
		}
	})
	http.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) {
		fastServed++
		fmt.Fprint(w, "fast")
	})
	http.HandleFunc("/pool", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		d := time.Duration(ms) * time.Millisecond
		var err error
		if r.URL.Query().Get("work") == "block" {
			err = guest.Pool.Block(d)
		} else {
			err = guest.Pool.Compute(d)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "pooled")
	})
	guest.Serve(nil)
}
`

// What runtime.Gosched does in a guest, against guest.Yield: a request
// computes in 10 slices of 10 ms with one of them between the slices, and a
// fast request arrives once it has started. Gosched runs the goroutines
// already ready and comes back without polling (the loop never enters
// poll_oneoff), so the fast request waits for the whole; Yield makes the
// loop poll between slices and serve it. Sleeps are logged, not checked:
// time.Sleep(1ns) has expired by the time the scheduler looks, so it does
// not poll either; a longer sleep does, twice (a look, then a wait for the
// timer), and costs its length each time. RATIONALE.md cites the log.
func TestYieldPollsGoschedDoesNot(t *testing.T) {
	started := make(chan uint32, 10)
	var mu sync.Mutex
	slowPasses := map[int64]bool{} // the loop passes the slow request ran in, by start
	inst := startGuest(t, slicesGuest, InstanceConfig{
		OnHandlerStart: func(id uint32, _ time.Time) { started <- id },
		OnPass: func(p *Pass) {
			mu.Lock()
			defer mu.Unlock()
			for _, sg := range p.Segs {
				if sg.Req == 1000 {
					slowPasses[p.Start] = true
				}
			}
		},
	})
	const slices = 10
	for _, tc := range []struct {
		mode  string
		check bool // the outcome is certain (not a race with a timer)
		polls bool // the loop polls between slices
	}{
		{"none", true, false},
		{"gosched", true, false},
		{"sleep1ns", false, false},
		{"sleep100us", false, true},
		{"yield", true, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			drain(started)
			mu.Lock()
			clear(slowPasses)
			mu.Unlock()
			slow := make(chan result, 1)
			go func() { slow <- do(inst, 1000, fmt.Sprintf("/slices?n=%d&ms=10&mode=%s", slices, tc.mode)) }()
			waitStarted(t, started, 1000)
			fast := make(chan result, 1)
			go func() { fast <- do(inst, 1001, "/fast") }()
			r := <-slow
			if r.err != nil || r.resp.Status != 200 {
				t.Fatalf("slow request: %v %+v", r.err, r.resp)
			}
			mustBody(t, <-fast, "fast")
			// A pass is told when it ends, in poll_oneoff: the loop has
			// polled since the slow request's last one once it has read
			// a request sent after both.
			mustBody(t, do(inst, 1002, "/fast"), "fast")
			mu.Lock()
			passes := len(slowPasses)
			mu.Unlock()
			t.Logf("%s between %d slices: the slow request ran in %d passes of the loop, %s", tc.mode, slices, passes, r.resp.Body)
			if !tc.check {
				return
			}
			if served := string(r.resp.Body) == "1 fast served meanwhile"; served != tc.polls {
				t.Errorf("%s", r.resp.Body)
			}
			if tc.polls && passes < slices || !tc.polls && passes != 1 {
				t.Errorf("%d passes in %d slices", passes, slices)
			}
		})
	}
}

// BenchmarkYield is what one guest.Yield costs a loop with nothing else to
// do: a host call, a pass through poll_oneoff, a wake-up record read.
func BenchmarkYield(b *testing.B) {
	inst := startGuest(b, slicesGuest, InstanceConfig{})
	do(inst, 1, "/yields?n=10") // the wake fd's reader starts
	b.ResetTimer()
	if r := do(inst, 2, fmt.Sprintf("/yields?n=%d", b.N)); r.err != nil || r.resp.Status != 200 {
		b.Fatal(r.err, r.resp)
	}
}

// A request's pool work runs on the process's pool while its instance
// serves others: with 2 threads and a queue of 1, four concurrent tasks
// are two that start at once, one that starts once one of them is done,
// and one refused at once with nginx's message; a fast request sent
// meanwhile is answered before any task is done. The events say so.
func TestPoolRunsOffTheLoop(t *testing.T) {
	var mu sync.Mutex
	var events []PoolTask
	poolEvent := make(chan struct{}, 100)
	pool := NewPool(PoolConfig{Threads: 2, MaxQueue: 1})
	inst := startGuest(t, slicesGuest, InstanceConfig{Pool: pool, OnPoolTask: func(e PoolTask) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		poolEvent <- struct{}{}
	}})
	count := func(ev PoolEvent) (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Event == ev {
				n++
			}
		}
		return n
	}
	waitEvents := func(ev PoolEvent, n int) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for count(ev) < n {
			select {
			case <-poolEvent:
			case <-deadline:
				t.Fatalf("%d %s events, want %d: %+v", count(ev), ev, n, events)
			}
		}
	}
	results := make(chan result, 4)
	for i := range 4 {
		go func() { results <- do(inst, uint32(100+i), "/pool?work=block&ms=300") }()
	}
	waitEvents(PoolStarted, 2)
	waitEvents(PoolOverflow, 1)
	if r := do(inst, 200, "/fast"); r.err != nil || string(r.resp.Body) != "fast" {
		t.Fatalf("fast request: %v %+v", r.err, r.resp)
	}
	if n := count(PoolDone); n != 0 {
		t.Errorf("%d pool tasks done before the fast request's answer, want 0: it waited for them", n)
	}
	var ok, refused int
	for range 4 {
		r := <-results
		switch {
		case r.err == nil && r.resp.Status == 200:
			ok++
		case r.err == nil && r.resp.Status == 500 && strings.Contains(string(r.resp.Body), `thread pool "default" queue overflow: 1 tasks waiting`):
			refused++
		default:
			t.Errorf("pool request: %v %+v", r.err, r.resp)
		}
	}
	if ok != 3 || refused != 1 {
		t.Fatalf("%d served and %d refused, want 3 and 1", ok, refused)
	}
	waitEvents(PoolDone, 3)
	mu.Lock()
	defer mu.Unlock()
	var firstDone, lastStart time.Time
	for _, e := range events {
		switch e.Event {
		case PoolDone:
			if firstDone.IsZero() || e.T.Before(firstDone) {
				firstDone = e.T
			}
		case PoolStarted:
			if e.T.After(lastStart) {
				lastStart = e.T
			}
			if e.Work != "block" || e.D != 300*time.Millisecond || e.Req < 100 || e.Req > 103 || !strings.HasPrefix(e.Where, "main.go:") {
				t.Errorf("start event %+v", e)
			}
		}
	}
	if lastStart.Before(firstDone) {
		t.Errorf("the third task started at %v, before the first was done at %v", lastStart, firstDone)
	}
	if s := pool.Stats(); s.Done != 3 || s.Overflows != 1 || s.Busy != 0 || s.Waiting != 0 {
		t.Errorf("stats %+v", s)
	}
}

type result struct {
	resp *abi.Response
	err  error
}

func do(inst *Instance, id uint32, uri string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := inst.Do(ctx, &abi.Request{ID: id, Method: "GET", URI: uri, Host: "test"})
	return result{resp, err}
}

func mustBody(t *testing.T, r result, want string) {
	t.Helper()
	if r.err != nil || r.resp.Status != 200 || string(r.resp.Body) != want {
		t.Fatalf("got %v %+v, want 200 %q", r.err, r.resp, want)
	}
}

func drain(ch chan uint32) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func waitStarted(t *testing.T, ch chan uint32, id uint32) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("request %d's handler did not start", id)
		}
	}
}

// A pool task's compute is a fixed amount of work: d of its thread's CPU
// time, however long that takes on a busy machine.
func TestBurnTakesCPUTime(t *testing.T) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	const d = 30 * time.Millisecond
	c0, w0 := threadCPU(), time.Now()
	burn(d)
	cpu, wall := threadCPU()-c0, time.Since(w0)
	if cpu < d || wall < d {
		t.Fatalf("burn(%v) took %v of CPU time in %v", d, cpu, wall)
	}
}
