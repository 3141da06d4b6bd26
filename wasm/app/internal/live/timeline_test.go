package live

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Past MaxSubRows requests at once a loop's requests are not painted over
// its last row: the rest are a band labelled with their peak, and the
// counts at any instant are every request in flight.
func TestOverflowBandAndCounts(t *testing.T) {
	const n = 200
	v := New("reactor")
	t0 := int64(1e18)
	var evs []stream.Event
	for i := 1; i <= n; i++ { // 200 sleeps parked at once on one loop
		evs = append(evs,
			stream.Event{T: t0 + int64(i)*10_000, Kind: stream.EventReqStart, PID: 7, Req: uint64(i), Method: "GET", Path: "/"},
			stream.Event{T: t0 + int64(i)*10_000 + 1000, Kind: stream.EventReqRun, PID: 7, Req: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		evs = append(evs, stream.Event{T: t0 + 50*ms + int64(i)*10_000, Kind: stream.EventReqEnd, PID: 7, Req: uint64(i), Status: 200, Dur: 50 * ms})
	}
	evs = append(evs, stream.Event{T: t0 + 100*ms, Kind: stream.EventPass, PID: 7,
		Passes: []stream.Pass{{T: t0 + 30*ms, Dur: 2 * ms, Segs: []stream.PassSeg{{Req: 5, T: t0 + 30*ms, Dur: 2 * ms}}}}})
	v.AddTrace(&stream.Trace{Events: evs})

	rows, over := 0, 0
	for _, r := range v.Reqs {
		if r.Sub == Overflow {
			over++
		} else {
			rows++
		}
	}
	if rows != MaxSubRows || over != n-MaxSubRows {
		t.Fatalf("%d requests on rows, %d in the band; want %d and %d", rows, over, MaxSubRows, n-MaxSubRows)
	}
	sc := v.Timeline(900, 400)
	want := fmt.Sprintf("+%d more", n-MaxSubRows)
	found := false
	for _, l := range sc.Labels {
		found = found || l.Text == want
	}
	if !found {
		t.Errorf("no %q label beside the band", want)
	}
	c := v.CountsAt(0, t0+31*ms)
	if c.InFlight != n || c.Holding != 1 || c.Parked != n-1 || c.Waiting != 0 {
		t.Errorf("counts at 31 ms: %+v, want %d in flight: 1 holding, %d parked", c, n, n-1)
	}
	// The pointer over the middle of the run reads the same counts.
	l := v.layout(900, 400)
	x := l.xOf(v, t0+31*ms)
	r, ok := v.At(900, 400, x, l.top[0]+1)
	if !ok || r.Counts != c || !r.Loop || r.Req == nil || !strings.HasPrefix(r.Req.Label, "GET /") {
		t.Errorf("At: %+v (req %+v) ok %v, want the counts %+v on the loop and the request on row 0", r, r.Req, ok, c)
	}
}

// A request the host cut off at its timeout on a loop (a 504 with the
// host's cause) held the loop from when it last ran until the kill, though
// no pass closed meanwhile: it is drawn and called out as that hold. The
// request cut off may also be one that waited for the loop longer than its
// timeout (its own timer ran out first): the hold is still the request
// that was running on the loop, not the one that never ran.
func TestRunawayHoldsTheLoopUntilTheKill(t *testing.T) {
	t0 := int64(1e18)
	spin := func(at int64) []stream.Event {
		return []stream.Event{
			{T: t0 + at*ms, Kind: stream.EventReqStart, PID: 7, Req: 1, Method: "GET", Path: "/spin"},
			{T: t0 + (at+1)*ms, Kind: stream.EventReqRun, PID: 7, Req: 1},
		}
	}
	end := func(req uint64, at, dur int64, status int, cause string) stream.Event {
		return stream.Event{T: t0 + at*ms, Kind: stream.EventReqEnd, PID: 7, Req: req, Status: status, Dur: dur * ms, Cause: cause}
	}
	innocent := func(at int64) stream.Event {
		return stream.Event{T: t0 + at*ms, Kind: stream.EventReqStart, PID: 7, Req: 2, Method: "GET", Path: "/"}
	}
	for _, c := range []struct {
		name     string
		events   []stream.Event
		from     int64 // the hold's start and end, ms
		to       int64
		innocent int64 // the innocent request's latency, ms
	}{
		{"the runaway cut off", append(spin(10), innocent(20),
			end(1, 1011, 1001, 504, "exceeded its timeout"), end(2, 1011, 991, 502, "died with its process")), 11, 1011, 991},
		{"a waiting request cut off", append([]stream.Event{innocent(5)}, append(spin(10),
			end(2, 1005, 1000, 504, "exceeded its timeout"), end(1, 1005, 995, 502, "died with its process"))...), 11, 1005, 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := New("reactor")
			evs := append([]stream.Event{{T: t0, Kind: stream.EventSpawn, PID: 7}}, c.events...)
			evs = append(evs, stream.Event{T: t0 + (c.to+1)*ms, Kind: stream.EventExit, PID: 7, Status: 4, Cause: "runaway"})
			v.AddTrace(&stream.Trace{Events: evs})
			h, ok := v.LongestHold()
			if !ok || h.T != t0+c.from*ms || h.Dur != (c.to-c.from)*ms || !strings.Contains(h.Label, "GET /spin") {
				t.Fatalf("longest hold %+v (ok %v), want GET /spin from %d ms until the kill at %d ms", h, ok, c.from, c.to)
			}
			if c := v.CountsAt(0, t0+500*ms); c.Holding != 1 || c.Waiting != 1 {
				t.Errorf("counts mid-hold %+v: want /spin holding, / waiting for the loop", c)
			}
			// The innocent request keeps its real latency.
			seen := false
			for _, r := range v.Reqs {
				if r.Label == "GET /" {
					seen = true
					if r.End-r.Start != c.innocent*ms || !r.Failed {
						t.Errorf("the innocent request: %+v, want failed after %d ms", r, c.innocent)
					}
				}
			}
			if !seen {
				t.Error("no innocent request drawn")
			}
		})
	}
}

// When the frozen process took its request's events with it, the
// supervisor's exit says how long the request its guard cut off had run:
// the loop is drawn held for that long.
func TestFrozenLoopWithoutItsEvents(t *testing.T) {
	v := New("reactor")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7},
		{T: t0 + 3000*ms, Kind: stream.EventExit, PID: 7, Status: -1, Cause: "killed by its runaway guard", Dur: 2000 * ms},
	}})
	h, ok := v.LongestHold()
	if !ok || h.T != t0+1000*ms || h.Dur != 2000*ms || !strings.Contains(h.Label, "past its timeout") {
		t.Fatalf("longest hold %+v (ok %v), want 2 s until the kill at 3 s", h, ok)
	}
	// Any other death (a crash) draws no hold.
	c := New("reactor")
	c.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7},
		{T: t0 + 10*ms, Kind: stream.EventReqStart, PID: 7, Req: 1, Method: "GET", Path: "/"},
		{T: t0 + 11*ms, Kind: stream.EventReqRun, PID: 7, Req: 1},
		{T: t0 + 900*ms, Kind: stream.EventExit, PID: 7, Status: 2, Cause: "crashed: panic"},
	}})
	if h, ok := c.LongestHold(); ok {
		t.Errorf("a crash drew a hold: %+v", h)
	}
}

// The event MPM's listener holds idle keep-alive connections no thread
// holds: each process's listener is a track of its own, labelled with the
// most it held.
func TestEventListenerTrack(t *testing.T) {
	v := New("event")
	t0 := int64(1e18)
	var evs []stream.Event
	for p := range 2 {
		for th := range 2 {
			evs = append(evs, stream.Event{T: t0, Kind: stream.EventSpawn, Process: p, Lane: th, PID: 10 + p})
		}
	}
	evs = append(evs,
		stream.Event{T: t0 + 100*ms, Kind: stream.EventConns, Process: 0, PID: 10, Waiting: 30, Writing: 2},
		stream.Event{T: t0 + 200*ms, Kind: stream.EventConns, Process: 1, PID: 11, Waiting: 12},
		stream.Event{T: t0 + 300*ms, Kind: stream.EventConns, Process: 0, PID: 10, Waiting: 5})
	v.AddTrace(&stream.Trace{Events: evs})
	sc := v.Timeline(900, 300)
	var labels []string
	for _, l := range sc.Labels {
		labels = append(labels, l.Text)
	}
	all := strings.Join(labels, "|")
	for _, want := range []string{"listener 0", "listener 1", "peak 30"} {
		if !strings.Contains(all, want) {
			t.Errorf("no label %q in %s", want, all)
		}
	}
	keep := 0
	for _, r := range sc.Rects {
		if r.C == CKeep {
			keep++
		}
	}
	if keep != 3 {
		t.Errorf("%d listener bars, want 3 (two steps of process 0, one of process 1)", keep)
	}
}

// Connections no worker has accepted yet are a track of their own above
// the lanes: their wait is in the latency and in no lane's bar.
func TestAcceptQueueTrack(t *testing.T) {
	v := New("process")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7},
		{T: t0 + 100*ms, Kind: stream.EventQueue, Value: 6},
		{T: t0 + 300*ms, Kind: stream.EventQueue, Value: 2},
		{T: t0 + 500*ms, Kind: stream.EventQueue, Value: 0},
	}})
	sc := v.Timeline(900, 300)
	var labels []string
	for _, l := range sc.Labels {
		labels = append(labels, l.Text)
	}
	if all := strings.Join(labels, "|"); !strings.Contains(all, "accept queue") || !strings.Contains(all, "peak 6") {
		t.Errorf("labels %s: want the accept queue's track and its peak", all)
	}
	bars := 0
	for _, r := range sc.Rects {
		if r.C == CQueue {
			bars++
		}
	}
	if bars != 2 {
		t.Errorf("%d accept-queue bars, want 2 (6 deep, then 2)", bars)
	}
	if q := sampleAt(v.Queue, v.ms(t0+350*ms)); q != 2 {
		t.Errorf("queue at 350 ms: %d, want 2", q)
	}
}

// A request its client sent 30 ms before a worker accepted its connection
// shows that wait before its bar, and the readout says it was in the
// accept queue; one on a kept-alive connection says it waited to be read.
func TestSentBeforeTaken(t *testing.T) {
	const w, h = 1000.0, 300.0
	v := New("process")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7},
		{T: t0 + 40*ms, Kind: stream.EventConn, PID: 7, Conn: 1},
		{T: t0 + 40*ms, Kind: stream.EventReqStart, PID: 7, Conn: 1, Req: 1, Method: "GET", Path: "/", Sent: t0 + 10*ms},
		{T: t0 + 90*ms, Kind: stream.EventReqEnd, PID: 7, Conn: 1, Req: 1, Status: 200, Dur: 50 * ms},
		{T: t0 + 500*ms, Kind: stream.EventReqStart, PID: 7, Conn: 1, Req: 2, Method: "GET", Path: "/", Sent: t0 + 495*ms},
		{T: t0 + 550*ms, Kind: stream.EventReqEnd, PID: 7, Conn: 1, Req: 2, Status: 200, Dur: 50 * ms},
		{T: t0 + 600*ms, Kind: stream.EventReqStart, PID: 7, Conn: 1, Req: 3, Method: "GET", Path: "/"},
		{T: t0 + 650*ms, Kind: stream.EventReqEnd, PID: 7, Conn: 1, Req: 3, Status: 200, Dur: 50 * ms},
		{T: t0 + 2000*ms, Kind: stream.EventLag, PID: 7},
	}})
	l := v.layout(w, h)
	sc := v.Timeline(w, h)
	a, b := l.xOf(v, t0+10*ms), l.xOf(v, t0+40*ms)
	drawn := false
	for _, r := range sc.Rects {
		drawn = drawn || r.C == CQueue && r.X <= a+0.5 && r.X+r.W >= b-0.5
	}
	if !drawn {
		t.Errorf("no accept-queue line from %.1f to %.1f", a, b)
	}
	for _, c := range []struct {
		at       int64
		queue    float64
		accepted bool
	}{{60, 30, true}, {520, 5, false}, {620, -1, false}} {
		r, ok := v.At(w, h, l.xOf(v, t0+c.at*ms), l.top[0]+1)
		if !ok || r.Req == nil {
			t.Fatalf("at %d ms: no request under the pointer (%+v)", c.at, r)
		}
		if math.Abs(r.Req.Queue-c.queue) > 0.01 || r.Req.Accepted != c.accepted {
			t.Errorf("at %d ms: waited %.2f ms (accepted %v), want %.0f (%v)", c.at, r.Req.Queue, r.Req.Accepted, c.queue, c.accepted)
		}
	}
}

// The pointer on a loop's request reads its wait for the loop, its run on
// it (and where its longest stretch was), and its time parked between.
func TestReadoutParkedAndWhere(t *testing.T) {
	const w, h = 1000.0, 300.0
	v := New("reactor")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventReqStart, PID: 7, Req: 1, Method: "GET", Path: "/"},
		{T: t0 + 60*ms, Kind: stream.EventPass, PID: 7, Passes: []stream.Pass{
			{T: t0 + 1*ms, Dur: 2 * ms, Segs: []stream.PassSeg{{Req: 1, T: t0 + 1*ms, Dur: 2 * ms, Where: "main.go:9"}}},
			{T: t0 + 40*ms, Dur: 1 * ms, Segs: []stream.PassSeg{{Req: 1, T: t0 + 40*ms, Dur: 1 * ms, Where: "main.go:12"}}},
		}},
		{T: t0 + 50*ms, Kind: stream.EventReqEnd, PID: 7, Req: 1, Status: 200, Dur: 50 * ms},
	}})
	l := v.layout(w, h)
	r, ok := v.At(w, h, l.xOf(v, t0+20*ms), l.top[0]+1)
	if !ok || r.Req == nil {
		t.Fatalf("no request under the pointer: %+v", r)
	}
	q := r.Req
	if q.Wait != 1 || q.Run != 3 || q.Parked != 46 || q.Where != "main.go:9" {
		t.Errorf("readout %+v, want waited 1, ran 3 (longest at main.go:9), parked 46 of 50 ms", q)
	}
}
