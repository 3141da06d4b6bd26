package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

// passLog collects an instance's passes (OnPass runs on the guest's
// goroutine; the test reads them after the requests are done).
type passLog struct {
	mu     sync.Mutex
	passes []Pass
	added  chan struct{} // poked after each pass
}

func newPassLog() *passLog { return &passLog{added: make(chan struct{}, 1)} }

func (l *passLog) add(p *Pass) {
	c := *p
	c.Segs = slices.Clone(p.Segs)
	l.mu.Lock()
	l.passes = append(l.passes, c)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
}

// segments waits until the passes hold n segments of at least min (a pass
// is reported when the loop next waits, which may come after the last
// response), then returns every segment sorted by start.
func (l *passLog) segments(t *testing.T, n int, min time.Duration) []Segment {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		var segs []Segment
		long := 0
		for _, p := range l.all() {
			for _, s := range p.Segs {
				segs = append(segs, s)
				if s.Dur >= int64(min) {
					long++
				}
			}
		}
		if long >= n {
			slices.SortFunc(segs, func(a, b Segment) int { return int(a.Start - b.Start) })
			return segs
		}
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("%d segments of ≥ %v after 10 s, want %d (one per request)", long, min, n)
		}
	}
}

func (l *passLog) all() []Pass {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.passes)
}

// exampleLine is the line of the first occurrence of text in an example's
// main.go.
func exampleLine(t *testing.T, example, text string) string {
	t.Helper()
	src, err := ExampleSource(example)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range src.Files {
		for i, line := range strings.Split(string(f.Data), "\n") {
			if strings.Contains(line, text) {
				return fmt.Sprintf("%s:%d", f.Name, i+1)
			}
		}
	}
	t.Fatalf("%q not in example %s", text, example)
	return ""
}

// doConcurrently sends the same request n times at once and returns each
// one's phases.
func doConcurrently(t *testing.T, inst *Instance, n int, uri string) []Phases {
	t.Helper()
	out := make([]Phases, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, p, err := inst.DoPhases(ctx, &abi.Request{Method: "GET", URI: uri, Host: "test"})
			if err != nil || resp.Status != 200 {
				t.Errorf("request %d: %v %v", i, resp, err)
			}
			out[i] = p
		})
	}
	wg.Wait()
	return out
}

// The loop runs one request at a time: CPU-bound requests sent together
// each hold the loop for their compute, at the guest.Compute call, and
// their stretches on the loop never overlap.
func TestPhasesComputeHoldsTheLoop(t *testing.T) {
	log := newPassLog()
	inst := startInstance(t, "cpu", InstanceConfig{OnPass: log.add})
	const n, ms = 4, 30
	phases := doConcurrently(t, inst, n, fmt.Sprintf("/?ms=%d", ms))
	where := exampleLine(t, "cpu", "guest.Compute(")
	for i, p := range phases {
		if p.Compute < ms*time.Millisecond || p.Hold < p.Compute || p.Run < p.Hold || p.Service < p.Run {
			t.Errorf("request %d: %+v: want compute ≥ %d ms ≤ hold ≤ run ≤ service", i, p, ms)
		}
		if p.HoldWhere != where {
			t.Errorf("request %d held the loop at %q, want %s", i, p.HoldWhere, where)
		}
	}
	// Every request's time on the loop is in the passes, in segments that
	// never overlap: one request at a time.
	segs := log.segments(t, n, ms*time.Millisecond)
	var long int
	for i, s := range segs {
		if i > 0 && s.Start < segs[i-1].Start+segs[i-1].Dur {
			t.Fatalf("segments %+v and %+v overlap: two requests held the loop at once", segs[i-1], s)
		}
		if s.Dur >= ms*int64(time.Millisecond) {
			long++
			if s.Where != where || s.Kind.String() != "compute" {
				t.Errorf("segment %+v: want compute at %s", s, where)
			}
		}
	}
	if long != n {
		t.Errorf("%d segments of ≥ %d ms, want %d (one per request)", long, ms, n)
	}
}

// Sleeping requests park: they hold the loop for microseconds and are
// parked for the rest of their service.
func TestPhasesSleepParks(t *testing.T) {
	inst := startInstance(t, "sleep", InstanceConfig{})
	for i, p := range doConcurrently(t, inst, 10, "/") {
		if p.Service < 50*time.Millisecond || p.Parked() < 45*time.Millisecond || p.Run > p.Service/4 {
			t.Errorf("request %d: %+v: want service ≥ 50 ms, mostly parked", i, p)
		}
		if p.Compute != 0 || p.Block != 0 {
			t.Errorf("request %d: compute %v block %v, want none", i, p.Compute, p.Block)
		}
	}
}

// guest.Block holds the loop in the host, at its call.
func TestPhasesBlock(t *testing.T) {
	inst := startInstance(t, "blocking", InstanceConfig{})
	p := doConcurrently(t, inst, 1, "/")[0]
	if p.Block < 50*time.Millisecond || p.Hold < p.Block {
		t.Errorf("%+v: want ≥ 50 ms blocked, all of it one hold", p)
	}
	if where := exampleLine(t, "blocking", "guest.Block("); p.HoldWhere != where {
		t.Errorf("held at %q, want %s", p.HoldWhere, where)
	}
}

// A handler that computes in its own code is named by its position.
func TestPhasesHandlerWhere(t *testing.T) {
	inst := startGuest(t, `package main

import (
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		for t := time.Now(); time.Since(t) < 20*time.Millisecond; {
		}
	})
	guest.Serve(nil)
}
`, InstanceConfig{})
	p := doConcurrently(t, inst, 1, "/")[0]
	if p.Hold < 20*time.Millisecond || p.HoldWhere != "main.go:11" {
		t.Errorf("%+v: want a ≥ 20 ms hold at main.go:11 (the handler)", p)
	}
}

// NoPhases turns the bookkeeping off: the same request has no phases.
func TestNoPhases(t *testing.T) {
	inst := startInstance(t, "cpu", InstanceConfig{NoPhases: true})
	if p := doConcurrently(t, inst, 1, "/?ms=5")[0]; p != (Phases{}) {
		t.Errorf("phases %+v with NoPhases", p)
	}
}
