package live

import (
	"testing"
)

const ms = int64(1e6)

// run feeds a synthetic run: lanes lanes, n requests of d ms each, conc at
// a time per lane, starting at t0.
func run(model string, lanes, n int, d int64) *View {
	v := New(model)
	t0 := int64(1_700_000_000) * 1e9
	var evs []Event
	for p := 0; p < lanes; p++ {
		evs = append(evs, Event{T: t0, Kind: "spawn", Process: p, PID: 100 + p})
	}
	for i := 0; i < n; i++ {
		p := i % lanes
		start := t0 + ms + int64(i/lanes)*d*ms
		evs = append(evs,
			Event{T: start - 2*ms, Kind: "conn", Process: p, PID: 100 + p, Conn: uint64(i + 1)},
			Event{T: start, Kind: "req_start", Process: p, PID: 100 + p, Conn: uint64(i + 1), Req: uint64(i + 1)},
			Event{T: start + d*ms, Kind: "req_end", Process: p, PID: 100 + p, Req: uint64(i + 1), Status: 200, Dur: d * ms})
	}
	v.AddTrace(&Trace{Events: evs})
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
	var evs []Event
	for i := 1; i <= 3; i++ { // three sleeps in flight on one loop
		evs = append(evs, Event{T: t0 + int64(i)*ms, Kind: "req_start", PID: 7, Req: uint64(i)})
	}
	v.AddTrace(&Trace{Events: evs})
	if len(v.Lanes) != 1 || v.Running() != 3 {
		t.Fatalf("lanes %d running %d", len(v.Lanes), v.Running())
	}
	for i, r := range v.Reqs {
		if r.Sub != i {
			t.Errorf("request %d on sub-row %d, want %d", i, r.Sub, i)
		}
	}
	v.AddTrace(&Trace{Events: []Event{{T: t0 + 60*ms, Kind: "req_end", PID: 7, Req: 2, Status: 200}}})
	v.AddTrace(&Trace{Events: []Event{{T: t0 + 61*ms, Kind: "req_start", PID: 7, Req: 4}}})
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
	v.AddTrace(&Trace{Events: []Event{
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
		v.AddTrace(&Trace{Events: []Event{{T: t0 + int64(i)*100*ms, Kind: "lag", Value: 0.9, Samples: []int64{ms, 2 * ms, 50 * ms}}}})
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
	var evs []Event
	t := v.Now
	for i := range 200 {
		p := i % 16
		evs = append(evs,
			Event{T: t, Kind: "req_start", Process: 0, Lane: p, PID: 100, Req: uint64(1e6 + i)},
			Event{T: t + 8*ms, Kind: "req_end", Process: 0, Lane: p, PID: 100, Req: uint64(1e6 + i), Status: 200, Dur: 8 * ms})
	}
	tr := &Trace{Events: evs}
	for b.Loop() {
		v.AddTrace(tr)
		v.Timeline(1000, 300)
	}
}
