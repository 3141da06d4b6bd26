package live

import (
	"testing"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

const ms = int64(1e6)

// run feeds a synthetic run: lanes lanes, n requests of d ms each, conc at
// a time per lane, starting at t0.
func run(model string, lanes, n int, d int64) *View {
	v := New(model)
	t0 := int64(1_700_000_000) * 1e9
	var evs []stream.Event
	for p := 0; p < lanes; p++ {
		evs = append(evs, stream.Event{T: t0, Kind: "spawn", Process: p, PID: 100 + p})
	}
	for i := 0; i < n; i++ {
		p := i % lanes
		start := t0 + ms + int64(i/lanes)*d*ms
		evs = append(evs,
			stream.Event{T: start - 2*ms, Kind: "conn", Process: p, PID: 100 + p, Conn: uint64(i + 1)},
			stream.Event{T: start, Kind: "req_start", Process: p, PID: 100 + p, Conn: uint64(i + 1), Req: uint64(i + 1)},
			stream.Event{T: start + d*ms, Kind: "req_end", Process: p, PID: 100 + p, Req: uint64(i + 1), Status: 200, Dur: d * ms})
	}
	v.AddTrace(&stream.Trace{Events: evs})
	return v
}

func TestRequestsAndLanes(t *testing.T) {
	v := run("process", 4, 40, 50)
	if len(v.Lanes) != 4 || len(v.Reqs) != 40 || v.Running() != 0 {
		t.Fatalf("lanes %d reqs %d running %d; want 4, 40, 0", len(v.Lanes), len(v.Reqs), v.Running())
	}
	for _, r := range v.Reqs {
		if r.End-r.Start != 50*ms || r.Failed || r.Sub != 0 || r.Accept == 0 {
			t.Fatalf("bad bar %+v", r)
		}
	}
	sc := v.Timeline(800, 200)
	bars := 0
	for _, r := range sc.Rects {
		if r.C == COK {
			bars++
		}
	}
	if bars != 40 {
		t.Errorf("%d bars drawn, want 40 (wide enough not to merge)", bars)
	}
}

func TestReactorOverlapStacks(t *testing.T) {
	v := New("reactor")
	t0 := int64(1e18)
	var evs []stream.Event
	for i := 1; i <= 3; i++ { // three sleeps in flight on one loop
		evs = append(evs, stream.Event{T: t0 + int64(i)*ms, Kind: "req_start", PID: 7, Req: uint64(i)})
	}
	v.AddTrace(&stream.Trace{Events: evs})
	if len(v.Lanes) != 1 || v.Running() != 3 {
		t.Fatalf("lanes %d running %d", len(v.Lanes), v.Running())
	}
	for i, r := range v.Reqs {
		if r.Sub != i {
			t.Errorf("request %d on sub-row %d, want %d", i, r.Sub, i)
		}
	}
	v.AddTrace(&stream.Trace{Events: []stream.Event{{T: t0 + 60*ms, Kind: "req_end", PID: 7, Req: 2, Status: 200}}})
	v.AddTrace(&stream.Trace{Events: []stream.Event{{T: t0 + 61*ms, Kind: "req_start", PID: 7, Req: 4}}})
	if got := v.Reqs[3].Sub; got != 1 {
		t.Errorf("new request on sub-row %d, want the freed row 1", got)
	}
	v.Stop()
	if v.Running() != 0 || !v.Reqs[0].Lost || v.Reqs[1].Lost {
		t.Errorf("after Stop: running %d, lost %v %v", v.Running(), v.Reqs[0].Lost, v.Reqs[1].Lost)
	}
}

func TestCrashFailsOpenRequests(t *testing.T) {
	v := New("thread")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: "spawn", Process: 0, PID: 9},
		{T: t0 + ms, Kind: "req_start", Process: 0, Lane: 0, PID: 9, Req: 1},
		{T: t0 + ms, Kind: "req_start", Process: 0, Lane: 1, PID: 9, Req: 2},
		{T: t0 + 2*ms, Kind: "state", Process: 0, Lane: 1, PID: 9, State: "blocked"},
		{T: t0 + 5*ms, Kind: "exit", Process: 0, PID: 9, Status: 2, Cause: "panic"},
	}})
	if len(v.Lanes) != 2 {
		t.Fatalf("%d lanes, want 2 threads", len(v.Lanes))
	}
	for _, r := range v.Reqs {
		if !r.Failed || r.End != t0+5*ms {
			t.Errorf("request not failed by the crash: %+v", r)
		}
	}
	if len(v.Blocked) != 1 || v.Blocked[0].End != t0+5*ms {
		t.Errorf("blocked spans %+v", v.Blocked)
	}
	if n := len(v.Marks); n != 2 || v.Marks[1].Kind != "crash" {
		t.Errorf("marks %+v", v.Marks)
	}
}

func TestLagChartPoints(t *testing.T) {
	v := New("reactor")
	t0 := int64(1e18)
	for i := 1; i <= 10; i++ {
		v.AddTrace(&stream.Trace{Events: []stream.Event{{T: t0 + int64(i)*100*ms, Kind: "lag", Value: 0.9, Samples: []int64{ms, 2 * ms, 50 * ms}}}})
	}
	if sc := v.LagChart(600, 150); sc.Points != 30 {
		t.Errorf("plotted %d points, want 30", sc.Points)
	}
}

// A busy run: 2,000 requests a second for 10 s on 16 threads. Merging keeps
// the scene to a few rectangles per pixel column and row.
func TestTimelineBounded(t *testing.T) {
	v := run("thread", 16, 20000, 8)
	sc := v.Timeline(1000, 300)
	if n := len(sc.Rects); n > 16*1000 {
		t.Errorf("%d rectangles for 16 lanes × 1000 px", n)
	}
}

func BenchmarkIngestAndLayout(b *testing.B) {
	// One 100 ms batch at 2,000 req/s (200 requests, 600 events) and one
	// frame, on a view that already holds 10 s.
	v := run("thread", 16, 20000, 8)
	var evs []stream.Event
	t := v.Now
	for i := range 200 {
		p := i % 16
		evs = append(evs,
			stream.Event{T: t, Kind: "req_start", Process: 0, Lane: p, PID: 100, Req: uint64(1e6 + i)},
			stream.Event{T: t + 8*ms, Kind: "req_end", Process: 0, Lane: p, PID: 100, Req: uint64(1e6 + i), Status: 200, Dur: 8 * ms})
	}
	tr := &stream.Trace{Events: evs}
	for b.Loop() {
		v.AddTrace(tr)
		v.Timeline(1000, 300)
	}
}

// loopRun feeds a reactor run of n requests sent at once to one loop,
// each holding the loop for hold ms (a CPU-bound handler) and then, if
// sleep > 0, sleeping that long (parked) before it answers.
func loopRun(n int, hold, sleep int64) *View {
	v := New("reactor")
	t0 := int64(1e18)
	evs := []stream.Event{{T: t0, Kind: "spawn", PID: 7}}
	var segs []stream.PassSeg
	var passes []stream.Pass
	at := t0 + ms
	for i := 1; i <= n; i++ {
		evs = append(evs, stream.Event{T: t0 + ms, Kind: "req_start", PID: 7, Req: uint64(i), Method: "GET", Path: "/?ms=200"})
	}
	for i := 1; i <= n; i++ {
		segs = append(segs, stream.PassSeg{Req: uint64(i), T: at, Dur: hold * ms, Kind: "compute", Where: "main.go:22"})
		at += hold * ms
	}
	passes = append(passes, stream.Pass{T: t0 + ms, Dur: at - t0 - ms, Segs: segs})
	evs = append(evs, stream.Event{T: at, Kind: "pass", PID: 7, Passes: passes})
	for i := 1; i <= n; i++ {
		end := t0 + ms + int64(i)*hold*ms + sleep*ms
		evs = append(evs, stream.Event{T: end, Kind: "req_end", PID: 7, Req: uint64(i), Status: 200, Dur: end - t0 - ms,
			Service: hold*ms + sleep*ms, Method: "GET", Path: "/?ms=200"})
	}
	v.AddTrace(&stream.Trace{Events: evs})
	return v
}

// CPU-bound requests on one loop: the picture shows one request holding
// the loop at a time, the rest waiting for it, and the longest hold named.
func TestLoopHeldOneAtATime(t *testing.T) {
	v := loopRun(10, 200, 0)
	st := v.LoopStats()
	if st.MaxHolders != 1 {
		t.Errorf("%d requests drawn holding the loop at once, want 1", st.MaxHolders)
	}
	if st.Queued < 0.6 {
		t.Errorf("%.0f%% of the requests' time drawn waiting, want most of it (each waits for the ones before)", 100*st.Queued)
	}
	h, ok := v.LongestHold()
	if !ok || h.Dur != 200*ms || h.Text() != "the loop was held 200 ms by GET /?ms=200 at main.go:22" {
		t.Errorf("longest hold %+v %q", h, h.Text())
	}
	sc := v.Timeline(900, 300)
	holds, queued, labelled := 0, 0, 0
	for _, r := range sc.Rects {
		switch r.C {
		case CHold:
			holds++
		case CQueued:
			queued++
		}
	}
	for _, l := range sc.Labels {
		if l.Text != "" && l.Text[0] == 'G' {
			labelled++
		}
	}
	if holds < 10 || queued < 9 || labelled == 0 {
		t.Errorf("timeline: %d hold rects, %d queued bars, %d labelled holds; want ≥ 10, ≥ 9, some", holds, queued, labelled)
	}
	lag := v.LagChart(600, 200)
	found := false
	for _, l := range lag.Labels {
		found = found || l.Text == h.Text()
	}
	if !found {
		t.Errorf("lag chart does not call out %q", h.Text())
	}
}

// Sleeping requests on one loop: many parked at once, the loop mostly idle.
func TestLoopSleepersPark(t *testing.T) {
	v := loopRun(20, 0, 50) // holds of 0 ms: the loop barely runs them
	st := v.LoopStats()
	if st.MaxParked < 15 || st.Parked < 0.5 {
		t.Errorf("max %d parked at once, %.0f%% of the time parked; want ≥ 15 and most", st.MaxParked, 100*st.Parked)
	}
	if st.Busy > 0.2 {
		t.Errorf("loop drawn %.0f%% busy, want mostly idle", 100*st.Busy)
	}
	if _, ok := v.LongestHold(); ok {
		t.Error("a hold called out for sleeping requests")
	}
}

// A process held by an idle keep-alive connection shows it.
func TestKeepAlivePinningShown(t *testing.T) {
	v := run("process", 1, 2, 50)
	t0 := v.Reqs[0].End
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: "state", PID: 100, State: "keepalive"},
		{T: t0 + 500*ms, Kind: "state", PID: 100, State: "idle"},
	}})
	if len(v.KeepAlive) != 1 || v.KeepAlive[0].End-v.KeepAlive[0].Start != 500*ms {
		t.Fatalf("keep-alive spans %+v, want one of 500 ms", v.KeepAlive)
	}
	n := 0
	for _, r := range v.Timeline(800, 100).Rects {
		if r.C == CKeep {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d keep-alive bands drawn, want 1", n)
	}
}
