package live

import (
	"math"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Layout constants of the timeline, in CSS pixels.
const (
	labelW = 92 // lane names
	axisH  = 16 // time axis
	padR   = 8
)

// maxSubH is the height of a sub-row when there is room.
const maxSubH = 14

// trackRows is the height of a loop's track, in sub-rows.
const trackRows = 2

// bandRows is the height of a lane's overflow band, in sub-rows.
const bandRows = 2

// subRows returns how many sub-rows each lane uses (its bars' rows, and its
// overflow band if it has one), and their total.
func (v *View) subRows() (subs []int, total int) {
	subs = make([]int, len(v.Lanes))
	for _, r := range v.Reqs {
		n := r.Sub + 1
		if r.Sub == Overflow {
			n = MaxSubRows + bandRows
		}
		subs[r.Lane] = max(subs[r.Lane], n)
	}
	for i := range subs {
		subs[i] = max(subs[i], 1)
		total += subs[i]
	}
	return subs, total
}

// loopLanes reports which lanes are loops with a track of their passes.
func (v *View) loopLanes() []bool {
	loop := make([]bool, len(v.Lanes))
	for _, p := range v.Passes {
		loop[p.Lane] = true
	}
	return loop
}

// TimelineHeight is the height the timeline needs to show every sub-row at
// full height, between min and max.
func (v *View) TimelineHeight(min, max float64) float64 {
	_, total := v.subRows()
	for _, l := range v.loopLanes() {
		if l {
			total += trackRows
		}
	}
	for _, l := range v.listenerLanes() {
		if l {
			total += listenRows
		}
	}
	if v.queuePeak() > 0 {
		total += queueRows
	}
	h := axisH + float64(total)*maxSubH + 4*float64(len(v.Lanes)) + 6
	return math.Max(min, math.Min(max, h))
}

// timelineLayout is where the timeline puts things in w×h: the time axis
// (x0..x1 shows from ms on, px pixels a millisecond) and, by lane index, the loop's track
// and the first row of its requests. The drawing and the readout under
// the pointer (At) share it.
type timelineLayout struct {
	x0, x1, y0, px float64
	from           float64 // the ms since the start at x0 (zoomed: Zoom.FromMS)
	subH, gap      float64
	subs           []int // sub-rows per lane
	loop           []bool
	top, trackY    []float64
	// listenY is, on the first lane of a process whose listener holds
	// connections (event MPM), where the listener's track is (0: none).
	listenY []float64
	// queueY is where the accept queue's track is (0: none, the queue
	// was always empty).
	queueY float64
}

// queueRows is the height of the accept queue's track, in sub-rows.
const queueRows = 2

// queuePeak is the deepest the accept queue was.
func (v *View) queuePeak() float64 {
	peak := 0.0
	for _, p := range v.Queue {
		peak = math.Max(peak, p.Y)
	}
	return peak
}

// listenRows is the height of a process's listener track, in sub-rows.
const listenRows = 2

// listenerLanes reports which lanes carry their process's listener track:
// the first lane of each process with listener data.
func (v *View) listenerLanes() []bool {
	on := make([]bool, len(v.Lanes))
	if len(v.Listeners) == 0 {
		return on
	}
	first := map[int]int{}
	for li, l := range v.Lanes {
		if _, ok := v.Listeners[l.Process]; !ok {
			continue
		}
		if f, ok := first[l.Process]; !ok || laneLess(l, v.Lanes[f]) {
			first[l.Process] = li
		}
	}
	for _, li := range first {
		on[li] = true
	}
	return on
}

// timeScale is the timeline's time axis in w pixels: it shows from ms on
// between x0 and x1, px pixels a millisecond.
func (v *View) timeScale(w float64) (x0, x1, from, px float64) {
	from, span := v.window()
	x0, x1 = labelW, w-padR
	return x0, x1, from, (x1 - x0) / span
}

func (v *View) layout(w, h float64) timelineLayout {
	l := timelineLayout{y0: axisH, gap: 4}
	l.x0, l.x1, l.from, l.px = v.timeScale(w)
	if len(v.Lanes) == 0 {
		return l
	}
	var total int
	l.subs, total = v.subRows()
	l.loop = v.loopLanes()
	listen := v.listenerLanes()
	tracks := 0
	for li, lp := range l.loop {
		if lp {
			tracks += trackRows
		}
		if listen[li] {
			tracks += listenRows
		}
	}
	if v.queuePeak() > 0 {
		tracks += queueRows
	}
	l.subH = math.Floor((h - l.y0 - l.gap*float64(len(v.Lanes))) / float64(total+tracks))
	if l.subH > maxSubH {
		l.subH = maxSubH
	}
	if l.subH < 1 {
		l.subH, l.gap = 1, 0
	}
	l.top = make([]float64, len(v.Lanes))
	l.trackY = make([]float64, len(v.Lanes))
	l.listenY = make([]float64, len(v.Lanes))
	byRow := make([]int, len(v.Lanes))
	for li, row := range v.laneOrder() {
		byRow[row] = li
	}
	y := l.y0
	if v.queuePeak() > 0 {
		l.queueY = y
		y += queueRows*l.subH + l.gap
	}
	for _, li := range byRow {
		if listen[li] {
			l.listenY[li] = y
			y += listenRows * l.subH
		}
		if l.loop[li] {
			l.trackY[li] = y
			y += trackRows * l.subH
		}
		l.top[li] = y
		y += float64(l.subs[li])*l.subH + l.gap
	}
	return l
}

// xOf is where instant t (Unix ns) is; xAt where ms since the start is.
func (l *timelineLayout) xOf(v *View, t int64) float64 { return l.xAt(v.ms(t)) }
func (l *timelineLayout) xAt(ms float64) float64       { return l.x0 + (ms-l.from)*l.px }

// laneTop is where lane li begins (its track, for a loop) and its height.
func (l *timelineLayout) laneTop(li int) (y, h float64) {
	y = l.top[li]
	if l.loop[li] {
		y = l.trackY[li]
	}
	return y, l.top[li] + float64(l.subs[li])*l.subH - y
}

// Timeline lays out the lanes and their request bars in w×h.
//
// A process or thread lane shows one request at a time, a bar each, and
// the idle keep-alive connection that holds it between requests. A loop
// lane shows the loop itself on top — one track on which, at every
// instant, at most one request holds it (solid, labelled with the
// request), its own work pale and idle time as gaps — and below it the
// requests in the loop, each waiting for the loop (queued) until its
// handler first runs, then parked while others hold it, solid while it
// holds it. Past MaxSubRows requests at once, the rest of a lane's
// requests are a band whose height at each instant is their number, its
// peak written beside it ("+188 more"); At reads the counts under the
// pointer.
func (v *View) Timeline(w, h float64) *Scene {
	s := &Scene{}
	l := v.layout(w, h)
	timeAxis(s, l.x0, l.x1, 0, h, l.from, (l.x1-l.x0)/l.px)
	if len(v.Lanes) == 0 {
		s.label(w/2, h/2, "lanes appear here when the run starts", CText, 'c')
		return s
	}
	v.drawLaneLabels(s, &l)
	plot := len(s.Rects) // from here on, rectangles are of the time axis
	m := merger{s: s, last: map[int]int{}}
	stripes := v.drawRequests(s, &m, &l)
	v.drawLoops(s, &m, &l)
	v.drawBands(s, &l)
	v.drawListeners(s, &l)
	v.drawQueue(s, &l)
	v.drawSpans(s, &l)
	v.drawMarks(s, &l)
	s.Rects = append(s.Rects, stripes...)
	s.Rects = clipX(s.Rects[:plot], s.Rects[plot:], l.x0-1, l.x1+1)
	return s
}

// clipX appends to dst the rectangles of rs cut to x0..x1 (what a zoomed
// timeline shows), leaving out those wholly outside.
func clipX(dst, rs []Rect, x0, x1 float64) []Rect {
	for _, r := range rs {
		a, b := math.Max(r.X, x0), math.Min(r.X+r.W, x1)
		if b <= a {
			continue
		}
		r.X, r.W = a, b-a
		dst = append(dst, r)
	}
	return dst
}

// drawLaneLabels draws each lane's name and the line under it.
func (v *View) drawLaneLabels(s *Scene, l *timelineLayout) {
	for li, lane := range v.Lanes {
		lh := float64(l.subs[li]) * l.subH
		s.rect(l.x0, l.top[li]+lh+l.gap/2-0.5, l.x1-l.x0, 0.5, CGrid)
		switch {
		case l.loop[li]:
			s.label(l.x0-6, l.trackY[li]+trackRows*l.subH/2+4, lane.Name, CText, 'r')
			if lh >= 9 {
				s.label(l.x0-6, l.top[li]+math.Min(lh, 14)/2+4, "requests", CText, 'r')
			}
		case l.subH*float64(l.subs[li]) >= 9:
			s.label(l.x0-6, l.top[li]+math.Min(lh, 14)/2+4, lane.Name, CText, 'r')
		}
	}
}

// drawRequests draws each request's bar on its sub-row (those in a lane's
// overflow band are drawn by drawBands), and returns their group stripes,
// to be drawn over everything else.
func (v *View) drawRequests(s *Scene, m *merger, l *timelineLayout) (stripes []Rect) {
	subH := l.subH
	bar := func(row int, y, a, b float64, c Color) {
		if b-a < 1 {
			b = a + 1
		}
		m.add(row, Rect{a, y + 1, b - a, math.Max(subH-2, 1), c})
	}
	for _, r := range v.Reqs {
		if r.Sub == Overflow {
			continue
		}
		end := r.End
		c := COK
		switch {
		case end == 0:
			end, c = v.Now, CRun
		case r.Failed:
			c = CFail
		case r.Lost:
			c = CLost
		}
		y := l.top[r.Lane] + float64(r.Sub)*subH
		row := r.Lane*MaxSubRows + r.Sub
		bx0, bx1 := l.xOf(v, r.Start), l.xOf(v, end)
		if r.Sent != 0 && subH >= 4 {
			// Sent, not yet taken: in the accept queue or on its
			// connection, a thin line up to its acceptance or start.
			sx, tx := l.xOf(v, r.Sent), l.xOf(v, r.Taken)
			if tx-sx >= 1 {
				m.add(-5000-row, Rect{sx, y + subH/2 - 1, tx - sx, 2, CQueue})
			}
		}
		if r.Group >= 0 && len(v.Groups) > 1 && subH >= 3 {
			// Its load group: a stripe along the top of its bar.
			stripes = append(stripes, Rect{bx0, y + 1, math.Max(bx1-bx0, 1), math.Max(math.Floor((subH-2)/3), 1), GroupColorOf(r.Group)})
		}
		if l.loop[r.Lane] {
			// Queued until its handler first ran, then parked (its
			// stretches on the loop are drawn over it by drawLoops); a
			// tick at the end says how it ended.
			served := r.Served
			if served == 0 || served > end {
				served = end
			}
			sx := math.Max(bx0, l.xOf(v, served))
			bar(row, y, bx0, sx, CQueued)
			if sx < bx1 {
				bar(row, y, sx, bx1, CParked)
			}
			if r.End != 0 {
				s.rect(math.Max(bx0, bx1-2), y+1, 2, math.Max(subH-2, 1), c)
			}
			continue
		}
		if bx1-bx0 >= 4 {
			bx1-- // a gap between requests that are wide enough to tell apart
		}
		bar(row, y, bx0, bx1, c)
		if r.Accept != 0 && subH >= 4 {
			wx := l.xOf(v, r.Accept)
			m.add(-1-row, Rect{wx, y + subH/2 - 1, math.Max(bx0-wx, 1), 2, CWait})
		}
	}
	return stripes
}

// drawLoops draws the loops' tracks: passes pale, then each request's
// stretch solid, on the track and on its own row.
func (v *View) drawLoops(s *Scene, m *merger, l *timelineLayout) {
	subH := l.subH
	for _, p := range v.Passes {
		a, b := l.xOf(v, p.T), l.xOf(v, p.T+p.Dur)
		if b-a < 1 && p.Busy < p.Dur {
			continue // merged short passes narrower than a pixel
		}
		m.add(-1000-p.Lane, Rect{a, l.trackY[p.Lane] + 1, math.Max(b-a, 1), trackRows*subH - 2, CLoop})
	}
	for _, sg := range v.Segs {
		c := CHold
		if sg.Kind == stream.WorkBlock {
			c = CHoldBlock
		}
		a, b := l.xOf(v, sg.T), l.xOf(v, sg.T+sg.Dur)
		m.add(-2000-sg.Lane, Rect{a, l.trackY[sg.Lane] + 1, math.Max(b-a, 1), trackRows*subH - 2, c})
		if sg.Req >= 0 && sg.Req < len(v.Reqs) {
			if r := v.Reqs[sg.Req]; r.Sub != Overflow {
				s.rect(a, l.top[r.Lane]+float64(r.Sub)*subH+1, math.Max(b-a, 1), math.Max(subH-2, 1), c)
			}
		}
		if a, b := math.Max(a, l.x0), math.Min(b, l.x1); b-a >= 60 && subH*trackRows >= 10 {
			s.label(a+3, l.trackY[sg.Lane]+trackRows*subH/2+4, fit(sg.Label, b-a-6), CHoldText, 'l')
		}
	}
}

// drawBands draws each lane's overflow band: at each pixel column, a bar
// as tall as the number of its overflow requests in flight there, against
// the band's peak, written beside it.
func (v *View) drawBands(s *Scene, l *timelineLayout) {
	cols := int(math.Ceil(l.x1-l.x0)) + 1
	var count map[int][]int // lane → per column, +1 at a start and -1 past an end
	for _, r := range v.Reqs {
		if r.Sub != Overflow {
			continue
		}
		if count == nil {
			count = map[int][]int{}
		}
		c := count[r.Lane]
		if c == nil {
			c = make([]int, cols+1)
			count[r.Lane] = c
		}
		end := r.End
		if end == 0 {
			end = v.Now
		}
		xa, xb := l.xOf(v, r.Start), l.xOf(v, end)
		if xb < l.x0 || xa > l.x1 {
			continue // outside the zoomed stretch
		}
		a := min(max(int(xa-l.x0), 0), cols-1)
		b := min(max(int(xb-l.x0), a), cols-1)
		c[a]++
		c[b+1]--
	}
	for li, c := range count {
		peak, n := 0, 0
		for x := range cols {
			n += c[x]
			c[x] = n
			peak = max(peak, n)
		}
		if peak == 0 {
			continue
		}
		y := l.top[li] + MaxSubRows*l.subH
		bh := bandRows*l.subH - 2
		for x := 0; x < cols; {
			n := c[x]
			x2 := x + 1
			for x2 < cols && c[x2] == n {
				x2++
			}
			if n > 0 {
				hh := math.Max(1, bh*float64(n)/float64(peak))
				s.rect(l.x0+float64(x), y+1+bh-hh, float64(x2-x), hh, CParked)
			}
			x = x2
		}
		s.rect(l.x0, y+1+bh, l.x1-l.x0, 0.5, CGrid)
		s.label(l.x0-6, y+bandRows*l.subH/2+4, "+"+strconv.Itoa(peak)+" more", CText, 'r')
	}
}

// ListenerPeak is the most idle keep-alive connections one process's
// listener held at once, and how many listeners held any.
func (v *View) ListenerPeak() (peak, listeners int) {
	for _, ps := range v.Listeners {
		held := false
		for _, p := range ps {
			peak = max(peak, int(p.Y))
			held = held || p.Y > 0
		}
		if held {
			listeners++
		}
	}
	return peak, listeners
}

// drawListeners draws each event-MPM process's listener as a track above
// its threads: at each instant, a bar as tall as the idle keep-alive
// connections it held (against the run's peak, written beside it). Those
// connections hold no thread; under the worker MPM each would be a
// thread's K.
func (v *View) drawListeners(s *Scene, l *timelineLayout) {
	peak := 0.0
	for _, ps := range v.Listeners {
		for _, p := range ps {
			peak = math.Max(peak, p.Y)
		}
	}
	for li, y := range l.listenY {
		if y == 0 {
			continue // no listener track on this lane
		}
		proc := v.Lanes[li].Process
		ps := v.Listeners[proc]
		bh := listenRows*l.subH - 2
		s.label(l.x0-6, y+listenRows*l.subH/2+4, "listener "+strconv.Itoa(proc), CText, 'r')
		for i, p := range ps {
			end := v.Span()
			if i+1 < len(ps) {
				end = ps[i+1].X
			}
			if p.Y <= 0 || peak <= 0 {
				continue
			}
			a, b := l.xAt(p.X), l.xAt(end)
			hh := math.Max(1, bh*p.Y/peak)
			s.rect(a, y+1+bh-hh, math.Max(b-a, 1), hh, CKeep)
		}
		s.label(l.x1-2, y+9, "idle keep-alive held, peak "+strconv.FormatFloat(peak, 'f', 0, 64), CText, 'r')
	}
}

// drawQueue draws the accept queue as a track above the lanes: at each
// instant, a bar as tall as the connections the kernel held that no
// worker had accepted yet (the listen backlog), against its peak, written
// beside it. Time a request spends there is in its latency and in no
// lane's bar.
func (v *View) drawQueue(s *Scene, l *timelineLayout) {
	peak := v.queuePeak()
	if l.queueY == 0 || peak <= 0 {
		return
	}
	y := l.queueY
	bh := queueRows*l.subH - 2
	s.label(l.x0-6, y+queueRows*l.subH/2+4, "accept queue", CText, 'r')
	for i, p := range v.Queue {
		end := v.Span()
		if i+1 < len(v.Queue) {
			end = v.Queue[i+1].X
		}
		if p.Y <= 0 {
			continue
		}
		a, b := l.xAt(p.X), l.xAt(end)
		hh := math.Max(1, bh*p.Y/peak)
		s.rect(a, y+1+bh-hh, math.Max(b-a, 1), hh, CQueue)
	}
	s.rect(l.x0, y+queueRows*l.subH+l.gap/2-0.5, l.x1-l.x0, 0.5, CGrid)
	s.label(l.x1-2, y+9, "waiting to be accepted, peak "+strconv.FormatFloat(peak, 'f', 0, 64), CText, 'r')
}

// drawSpans draws idle keep-alive connections holding a lane, and lanes
// blocked in guest.Block.
func (v *View) drawSpans(s *Scene, l *timelineLayout) {
	for _, k := range v.KeepAlive {
		end := k.End
		if end == 0 {
			end = v.Now
		}
		lh := float64(l.subs[k.Lane]) * l.subH
		s.rect(l.xOf(v, k.Start), l.top[k.Lane]+lh/2-1.5, math.Max(l.xOf(v, end)-l.xOf(v, k.Start), 1), 3, CKeep)
	}
	for _, b := range v.Blocked {
		end := b.End
		if end == 0 {
			end = v.Now
		}
		lh := float64(l.subs[b.Lane]) * l.subH
		s.rect(l.xOf(v, b.Start), l.top[b.Lane], math.Max(l.xOf(v, end)-l.xOf(v, b.Start), 1), lh, CBlock)
	}
}

// drawMarks draws spawns, exits, crashes and kills.
func (v *View) drawMarks(s *Scene, l *timelineLayout) {
	for _, mk := range v.Marks {
		x := l.xOf(v, mk.T)
		switch mk.Kind {
		case "spawn":
			t, hh := l.laneTop(mk.Lane)
			s.rect(x, t, 2, hh, CSpawn)
		default:
			c := CCrash
			if mk.Kind == "kill" {
				c = CKill
			} else if mk.Kind == "exit" {
				c = CGrid
			}
			for li, lane := range v.Lanes {
				if lane.Process == mk.Proc {
					t, hh := l.laneTop(li)
					s.rect(x-1, t-1, 2, hh+2, c)
				}
			}
		}
	}
}

// Readout is what the timeline shows at an instant on one lane: how many
// of its requests were in flight and, on a loop, how many waited for it,
// were parked, held it; and the request under the pointer, if any.
type Readout struct {
	Lane   string  `json:"lane"`
	AtMS   float64 `json:"at_ms"` // since the view's start
	Loop   bool    `json:"loop"`
	Counts Counts  `json:"counts"`
	// Queue is the accept queue's depth then: connections no worker had
	// accepted yet.
	Queue int `json:"queue"`
	// Listens says the lane's process has a listener that holds idle
	// keep-alive connections (event MPM); Listener is how many it held
	// then, each costing no thread.
	Listens  bool `json:"listens"`
	Listener int  `json:"listener"`
	// Req is the request whose bar is under the pointer (nil: none).
	Req *ReqReadout `json:"req,omitempty"`
}

// Counts are a lane's requests at an instant.
type Counts struct {
	InFlight int `json:"in_flight"`
	// On a loop: Waiting for it (their handler had not run yet), Holding
	// it (0 or 1), Parked (ran, then waited on a timer, a channel, I/O,
	// or ready while another held it).
	Waiting int `json:"waiting"`
	Holding int `json:"holding"`
	Parked  int `json:"parked"`
}

// ReqReadout describes one request for the pointer.
type ReqReadout struct {
	Label  string  `json:"label"`
	Group  string  `json:"group,omitempty"`
	Status int     `json:"status"`
	Failed bool    `json:"failed"`
	Accept float64 `json:"accept_ms"` // accepted, before it was read (ms before its start)
	// Queue is how long it waited after its client sent it until a
	// worker took it: accepted its connection (the accept queue) or, on a
	// kept-alive connection, read it; -1 if its client did not say.
	Queue    float64 `json:"queue_ms"`
	Accepted bool    `json:"accepted"`        // Queue ended with an accept (not a read)
	Wait     float64 `json:"wait_ms"`         // on a loop: before its handler first ran
	Run      float64 `json:"run_ms"`          // on a loop: its stretches on the loop
	Parked   float64 `json:"parked_ms"`       // on a loop: between its stretches, waiting on a timer, channel or I/O, or for the loop
	Where    string  `json:"where,omitempty"` // on a loop: where its longest stretch was ("main.go:22")
	Total    float64 `json:"total_ms"`        // from its start to its end (or now)
}

// CountsAt counts lane li's requests in flight at t (Unix ns).
func (v *View) CountsAt(li int, t int64) Counts {
	var c Counts
	holder := -1
	for _, sg := range v.Segs {
		if sg.Lane == li && sg.T <= t && t < sg.T+sg.Dur {
			holder = sg.Req
			c.Holding = 1
		}
	}
	for ri, r := range v.Reqs {
		end := r.End
		if end == 0 {
			end = v.Now + 1
		}
		if r.Lane != li || t < r.Start || t >= end {
			continue
		}
		c.InFlight++
		switch {
		case ri == holder:
		case r.Served == 0 || t < r.Served:
			c.Waiting++
		default:
			c.Parked++
		}
	}
	if holder < 0 && c.Holding == 1 {
		// The holder's bar was let go of (sampled or compacted away).
		c.InFlight++
	}
	return c
}

// At reads the timeline of w×h at the point (x, y): the lane there and its
// counts at that instant, and the request whose bar is there. ok is false
// off the lanes.
func (v *View) At(w, h, x, y float64) (r Readout, ok bool) {
	l := v.layout(w, h)
	if len(v.Lanes) == 0 || x < l.x0 || x > l.x1 || y < l.y0 {
		return r, false
	}
	t := v.T0 + int64((l.from+(x-l.x0)/l.px)*1e6)
	li := -1
	for i := range v.Lanes {
		top, hh := l.laneTop(i)
		if y >= top && y < top+hh+l.gap {
			li = i
		}
	}
	if li < 0 {
		return r, false
	}
	r = Readout{Lane: v.Lanes[li].Name, AtMS: v.ms(t), Loop: l.loop[li], Counts: v.CountsAt(li, t), Queue: sampleAt(v.Queue, v.ms(t))}
	if ps, ok := v.Listeners[v.Lanes[li].Process]; ok {
		r.Listens, r.Listener = true, sampleAt(ps, v.ms(t))
	}
	if y >= l.top[li] {
		if sub := int((y - l.top[li]) / l.subH); sub < MaxSubRows {
			for ri := range v.Reqs {
				q := &v.Reqs[ri]
				end := q.End
				if end == 0 {
					end = v.Now + 1
				}
				if q.Lane == li && q.Sub == sub && q.Start <= t && t < end {
					r.Req = v.reqReadout(ri)
				}
			}
		}
	}
	return r, true
}

// sampleAt is a track's value at ms (accept queue, listener): its last
// sample before.
func sampleAt(track []Point, ms float64) int {
	d := 0
	for _, p := range track {
		if p.X > ms {
			break
		}
		d = int(p.Y)
	}
	return d
}

func (v *View) reqReadout(ri int) *ReqReadout {
	q := &v.Reqs[ri]
	end := q.End
	if end == 0 {
		end = v.Now
	}
	rr := &ReqReadout{Label: q.Label, Status: q.Status, Failed: q.Failed, Total: float64(end-q.Start) / 1e6}
	if q.Group >= 0 && q.Group < len(v.Groups) {
		rr.Group = v.Groups[q.Group]
	}
	if q.Accept != 0 {
		rr.Accept = float64(q.Start-q.Accept) / 1e6
	}
	rr.Queue = -1
	if q.Sent != 0 {
		rr.Queue, rr.Accepted = float64(q.Taken-q.Sent)/1e6, q.Accepted
	}
	if q.Served != 0 {
		rr.Wait = float64(q.Served-q.Start) / 1e6
	}
	longest := int64(0)
	for _, sg := range v.Segs {
		if sg.Req == ri {
			rr.Run += float64(sg.Dur) / 1e6
			if sg.Dur > longest && sg.Where != "" {
				longest, rr.Where = sg.Dur, sg.Where
			}
		}
	}
	if q.Served != 0 {
		rr.Parked = max(0, rr.Total-rr.Wait-rr.Run)
	}
	return rr
}
