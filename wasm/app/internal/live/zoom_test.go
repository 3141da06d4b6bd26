package live

import (
	"math"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// zoomView is a process lane with two requests a second apart: 10–20 ms
// and 1000–1010 ms of a 2 s run.
func zoomView() (*View, int64) {
	v := New("process")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7},
		{T: t0 + 10*ms, Kind: stream.EventReqStart, PID: 7, Req: 1, Method: "GET", Path: "/a"},
		{T: t0 + 20*ms, Kind: stream.EventReqEnd, PID: 7, Req: 1, Status: 200, Dur: 10 * ms},
		{T: t0 + 1000*ms, Kind: stream.EventReqStart, PID: 7, Req: 2, Method: "GET", Path: "/b"},
		{T: t0 + 1010*ms, Kind: stream.EventReqEnd, PID: 7, Req: 2, Status: 200, Dur: 10 * ms},
		{T: t0 + 2000*ms, Kind: stream.EventLag, PID: 7},
	}})
	return v, t0
}

// okBars are the timeline's bars of answered requests.
func okBars(s *Scene) []Rect {
	var out []Rect
	for _, r := range s.Rects {
		if r.C == COK {
			out = append(out, r)
		}
	}
	return out
}

// Zooming keeps the instant under the pointer where it is, widens what
// it shows, leaves out (rather than squeezes to the edge) what falls
// outside, and the pointer's readout reads the zoomed time.
func TestTimelineZoomAndPan(t *testing.T) {
	const w, h = 1000.0, 300.0
	v, t0 := zoomView()
	whole := okBars(v.Timeline(w, h))
	if len(whole) != 2 {
		t.Fatalf("%d answered bars over the whole run, want 2", len(whole))
	}
	l := v.layout(w, h)
	x := l.xOf(v, t0+1005*ms) // the middle of the second request
	v.ZoomAt(w, x, 10)
	if !v.Zoom.On() {
		t.Fatal("ZoomAt(10) left the timeline unzoomed")
	}
	if span := v.Zoom.ToMS - v.Zoom.FromMS; math.Abs(span-v.Span()/10) > 1e-6 {
		t.Errorf("zoomed span %.1f ms, want a tenth of %.1f", span, v.Span())
	}
	zl := v.layout(w, h)
	if got := zl.xOf(v, t0+1005*ms); math.Abs(got-x) > 0.01 {
		t.Errorf("the instant under the pointer moved from x=%.2f to %.2f", x, got)
	}
	bars := okBars(v.Timeline(w, h))
	if len(bars) != 1 {
		t.Fatalf("%d answered bars zoomed on the second request, want it alone (the first is outside)", len(bars))
	}
	if bars[0].W < 9*whole[1].W {
		t.Errorf("zoomed ×10 the bar is %.1f px wide, was %.1f", bars[0].W, whole[1].W)
	}
	for _, r := range v.Timeline(w, h).Rects {
		if r.X < zl.x0-1 || r.X+r.W > zl.x1+1 {
			t.Fatalf("a rectangle %+v outside the time axis %.0f..%.0f", r, zl.x0, zl.x1)
		}
	}
	r, ok := v.At(w, h, x, zl.top[0]+1)
	if !ok || math.Abs(r.AtMS-1005) > 0.5 || r.Req == nil || r.Req.Label != "GET /b" {
		t.Errorf("At under the pointer zoomed: %+v (req %+v), want 1005 ms on GET /b", r, r.Req)
	}

	// Panning right shows earlier time, and stops at the run's start.
	from := v.Zoom.FromMS
	v.Pan(w, 100)
	if v.Zoom.FromMS >= from {
		t.Errorf("panning right moved the window from %.1f to %.1f ms, want earlier", from, v.Zoom.FromMS)
	}
	v.Pan(w, 1e6)
	if v.Zoom.FromMS != 0 || len(okBars(v.Timeline(w, h))) != 1 {
		t.Errorf("panned past the start: window from %.1f ms, want 0 with the first request shown alone", v.Zoom.FromMS)
	}

	// Zooming out past the whole run shows it all again.
	v.ZoomAt(w, x, 0.01)
	if v.Zoom.On() || len(okBars(v.Timeline(w, h))) != 2 {
		t.Errorf("zoomed out: %+v, want the whole run", v.Zoom)
	}
}

// The pointer over an event-MPM thread reads what its process's listener
// held then.
func TestReadoutListener(t *testing.T) {
	const w, h = 1000.0, 300.0
	v := New("event")
	t0 := int64(1e18)
	v.AddTrace(&stream.Trace{Events: []stream.Event{
		{T: t0, Kind: stream.EventSpawn, PID: 7, Process: 1},
		{T: t0 + 10*ms, Kind: stream.EventReqStart, PID: 7, Process: 1, Req: 1, Method: "GET", Path: "/"},
		{T: t0 + 100*ms, Kind: stream.EventConns, PID: 7, Process: 1, Waiting: 37},
		{T: t0 + 500*ms, Kind: stream.EventConns, PID: 7, Process: 1, Waiting: 5},
		{T: t0 + 900*ms, Kind: stream.EventReqEnd, PID: 7, Process: 1, Req: 1, Status: 200, Dur: 890 * ms},
	}})
	l := v.layout(w, h)
	for _, c := range []struct {
		at   int64
		want int
	}{{300, 37}, {700, 5}} {
		r, ok := v.At(w, h, l.xOf(v, t0+c.at*ms), l.top[0]+1)
		if !ok || !r.Listens || r.Listener != c.want {
			t.Errorf("at %d ms: %+v ok %v, want the listener holding %d", c.at, r, ok, c.want)
		}
	}
}
