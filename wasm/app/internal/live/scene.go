package live

import (
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Color is a colour role; the app maps each to the CSS custom property
// "--c-" + its name, so the charts follow the page's theme.
type Color uint8

// The colour roles.
const (
	CText Color = iota
	CGrid
	CRun   // a request in flight
	COK    // a request that got a response
	CFail  // a request that failed (5xx, no response, crashed)
	CLost  // a request whose end was not seen
	CBlock // a lane held in guest.Block
	CWait  // accepted, waiting for the worker
	CSpawn
	CCrash
	CKill
	CLag
	CUtil
	CRPS
	CQueue
	CBar
	CP50
	CP90
	CP99
	CModel0 // the first model of experiment.ModelTable; the next ones follow
	CModel1
	CModel2
	CModel3
	CModel4
	CModel5
	CModel6
	CModel7
	CLoop      // a loop busy with its own work (reading frames, scheduling)
	CHold      // a request holding a loop: its code runs, nothing else can
	CHoldBlock // a request holding a loop in guest.Block
	CQueued    // a request waiting for a loop held by others
	CParked    // a request parked in an asynchronous wait (sleep, channel)
	CKeep      // a process or thread held by an idle keep-alive connection
	CCallout   // a long hold called out on the charts
	CHoldText  // a label on a hold
	CGroup0    // the load's first group; the next ones follow
	CGroup1
	CGroup2
	CGroup3
	CGroup4
	CGroup5
	CGroup6
	CGroup7
	NColors
)

// ColorNames are the roles' names, as in the CSS properties --c-<name>.
// A model's is its name, whose property the page sets from
// experiment.ModelTable's colour.
var ColorNames = func() [NColors]string {
	names := [NColors]string{
		"text", "grid", "run", "ok", "fail", "lost", "block", "wait", "spawn", "crash", "kill",
		"lag", "util", "rps", "queue", "bar", "p50", "p90", "p99",
		"model0", "model1", "model2", "model3", "model4", "model5", "model6", "model7",
		"loop", "hold", "hold-block", "queued", "parked", "keep", "callout", "hold-text",
		"group0", "group1", "group2", "group3", "group4", "group5", "group6", "group7",
	}
	for i, m := range experiment.ModelTable[:min(len(experiment.ModelTable), 8)] {
		names[CModel0+Color(i)] = m.Name
	}
	return names
}()

// GroupColorOf is the colour role of the load's i-th group.
func GroupColorOf(i int) Color { return CGroup0 + Color(i%8) }

// ModelColor is the colour of a model (an experiment.ModelTable name) in
// the compare view: its row's.
func ModelColor(model string) Color {
	for i, m := range experiment.ModelTable {
		if m.Name == model {
			return CModel0 + Color(i%8)
		}
	}
	return CModel0 + Color(slices.IndexFunc(experiment.ModelTable, func(m experiment.ModelSpec) bool { return m.Name == experiment.DefaultModel }))
}

// Rect is a filled rectangle.
type Rect struct {
	X, Y, W, H float64
	C          Color
}

// Line is a polyline: XY holds x0, y0, x1, y1, …
type Line struct {
	C     Color
	Width float64
	XY    []float64
}

// Label is a line of text; Align is 'l', 'c' or 'r' around X, Y the
// baseline.
type Label struct {
	X, Y  float64
	Text  string
	C     Color
	Align byte
}

// Scene is one chart laid out in CSS pixels, drawn in order: rectangles,
// lines, labels.
type Scene struct {
	Rects  []Rect
	Lines  []Line
	Labels []Label
	// Points is the number of data points the chart plots (the lag chart
	// exposes it to tests).
	Points int
}

func (s *Scene) rect(x, y, w, h float64, c Color) {
	s.Rects = append(s.Rects, Rect{x, y, w, h, c})
}

func (s *Scene) label(x, y float64, text string, c Color, align byte) {
	s.Labels = append(s.Labels, Label{x, y, text, c, align})
}

// merger merges rectangles of one row that touch and share a colour, so a
// row costs at most about one rectangle per pixel column.
type merger struct {
	s    *Scene
	last map[int]int // row → index of its last rectangle in s.Rects
}

func (m *merger) add(row int, r Rect) {
	if i, ok := m.last[row]; ok {
		p := &m.s.Rects[i]
		if p.C == r.C && r.X <= p.X+p.W && p.Y == r.Y && p.H == r.H {
			p.W = math.Max(p.X+p.W, r.X+r.W) - p.X
			return
		}
	}
	m.s.Rects = append(m.s.Rects, r)
	m.last[row] = len(m.s.Rects) - 1
}

// fit cuts text to about w pixels of the charts' font.
func fit(text string, w float64) string {
	n := int(w / 6.2)
	if len(text) <= n {
		return text
	}
	if n <= 1 {
		return ""
	}
	r := []rune(text)
	if len(r) <= n {
		return text
	}
	return string(r[:n-1]) + "…"
}

// LoopStats are what a loop's picture shows, in numbers: the tests' and
// the page's check that it tells the truth.
type LoopStats struct {
	// MaxHolders is the most requests drawn holding one loop at once
	// (never more than 1: a loop runs one request at a time).
	MaxHolders int
	// Busy is the share of the view's time some loop was drawn busy.
	Busy float64
	// Queued is the share of the loop requests' bar time drawn waiting
	// for the loop; Parked the share drawn parked.
	Queued, Parked float64
	// MaxParked is the most requests drawn parked at once on one loop.
	MaxParked int
}

// MaxInFlight is the most request bars drawn at one instant, over every
// lane: how many requests the model served in parallel.
func (v *View) MaxInFlight() int {
	var es []edge
	for _, r := range v.Reqs {
		end := r.End
		if end == 0 {
			end = v.Now
		}
		es = append(es, edge{r.Start, 1, 0}, edge{end, -1, 0})
	}
	return maxOverlap(es)
}

// LoopStats measures the loop lanes' picture (zero without loop lanes).
func (v *View) LoopStats() LoopStats {
	var st LoopStats
	loop := v.loopLanes()
	var holds, parked []edge
	for _, sg := range v.Segs {
		holds = append(holds, edge{sg.T, 1, sg.Lane}, edge{sg.T + sg.Dur, -1, sg.Lane})
	}
	st.MaxHolders = maxOverlap(holds)
	var busy int64
	for _, p := range v.Passes {
		busy += p.Busy
	}
	if span := v.Now - v.T0; span > 0 {
		st.Busy = math.Min(1, float64(busy)/float64(span))
	}
	// Running time per request, to take from its parked time.
	ran := map[int]int64{}
	for _, sg := range v.Segs {
		if sg.Req >= 0 {
			ran[sg.Req] += sg.Dur
		}
	}
	var queued, parkedT, all int64
	for i, r := range v.Reqs {
		if !loop[r.Lane] {
			continue
		}
		end := r.End
		if end == 0 {
			end = v.Now
		}
		served := r.Served
		if served == 0 || served > end {
			served = end
		}
		queued += served - r.Start
		parkedT += max(0, end-served-ran[i])
		all += end - r.Start
		if served < end {
			parked = append(parked, edge{served, 1, r.Lane}, edge{end, -1, r.Lane})
		}
	}
	// A request running is not parked: take its stretches out.
	for _, sg := range v.Segs {
		if sg.Req >= 0 {
			parked = append(parked, edge{sg.T, -1, sg.Lane}, edge{sg.T + sg.Dur, 1, sg.Lane})
		}
	}
	st.MaxParked = maxOverlap(parked)
	if all > 0 {
		st.Queued, st.Parked = float64(queued)/float64(all), float64(parkedT)/float64(all)
	}
	return st
}

// edge is a +1 (start) or -1 (end) at time t on a lane.
type edge struct {
	t    int64
	d    int
	lane int
}

// maxOverlap is the largest sum of edges at one instant, on any one lane.
func maxOverlap(es []edge) int {
	sort.Slice(es, func(i, j int) bool {
		if es[i].t != es[j].t {
			return es[i].t < es[j].t
		}
		return es[i].d < es[j].d // ends before starts at the same instant
	})
	cur, best := map[int]int{}, 0
	for _, x := range es {
		cur[x.lane] += x.d
		best = max(best, cur[x.lane])
	}
	return best
}

// timeAxis draws ticks for from..from+span ms between x0 and x1, and grid
// lines down to h.
func timeAxis(s *Scene, x0, x1, ytop, h, from, span float64) {
	step := niceStep(span / math.Max(2, (x1-x0)/90))
	for t := math.Ceil(from/step-1e-9) * step; t <= from+span+step/1e3; t += step {
		x := x0 + (t-from)*(x1-x0)/span
		s.rect(x, ytop+axisH-3, 0.5, h-(ytop+axisH-3), CGrid)
		s.label(x, ytop+11, fmtMS(t), CText, 'c')
	}
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// fmtMS formats milliseconds for an axis: "250ms", "1.5s".
func fmtMS(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', -1, 64) + "s"
	case ms < 1:
		return strconv.FormatFloat(ms*1000, 'f', 0, 64) + "µs"
	}
	return strconv.FormatFloat(ms, 'f', -1, 64) + "ms"
}

// FormatMS formats a latency for people: "0.42 ms", "12.3 ms", "1.25 s".
func FormatMS(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
}

// chartPad is the margin of the small charts: left (axis labels), top,
// right, bottom.
const (
	padL = 44
	padT = 14 // room for the legend
	padB = 18
	// padR2 is the right margin of a chart with a second line, whose own
	// axis is labelled there.
	padR2 = 40
)

// LagChart plots every loop-lag sample (ms) as a point, and the loop's
// utilisation as a line on the same height (0..100%).
func (v *View) LagChart(w, h float64) *Scene {
	s := &Scene{}
	x0, x1, y0, y1 := float64(padL), w-padR2, float64(padT), h-padB
	span := v.Span()
	top := 1.0
	for _, p := range v.Lag {
		top = math.Max(top, p.Y)
	}
	top = niceStep(top)
	yAxis(s, x0, x1, y0, y1, top, fmtMS)
	xAxisBottom(s, x0, x1, y1, span)
	// Each line its own axis: lag on the left, the loop's busy share on
	// the right (0–100%), and a legend naming both.
	yAxisRight(s, x1, y0, y1, 1, func(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }, CUtil)
	legend(s, x0, y0-4, []legendItem{{"loop lag (points, left)", CLag}, {"loop busy (line, right)", CUtil}})
	if len(v.Util) > 0 {
		xy := make([]float64, 0, 2*len(v.Util))
		for _, p := range v.Util {
			xy = append(xy, x0+p.X*(x1-x0)/span, y1-p.Y*(y1-y0))
		}
		s.Lines = append(s.Lines, Line{CUtil, 1.5, xy})
	}
	// Points: one per sample; in a dense column keep the extremes only.
	cols := map[int][2]float64{}
	for _, p := range v.Lag {
		x := x0 + p.X*(x1-x0)/span
		y := y1 - math.Min(p.Y/top, 1)*(y1-y0)
		if len(v.Lag) > 4*int(x1-x0) {
			c := int(x)
			mm, ok := cols[c]
			if ok && y >= mm[0] && y <= mm[1] {
				continue
			}
			if !ok {
				mm = [2]float64{y, y}
			}
			mm[0], mm[1] = math.Min(mm[0], y), math.Max(mm[1], y)
			cols[c] = mm
		}
		s.rect(x-1, y-1, 2.5, 2.5, CLag)
		s.Points++
	}
	if len(v.Lag) == 0 {
		msg := "loop lag: loop models only (reactor)"
		if v.spec().Loop && len(v.Lanes) > 0 {
			msg = "no lag sample yet: a loop held (or dead) sends none"
		}
		s.label((x0+x1)/2, (y0+y1)/2, msg, CText, 'c')
	}
	// The longest hold, called out: the lag it caused is the points
	// after it.
	if hd, ok := v.LongestHold(); ok {
		a := x0 + v.ms(hd.T)*(x1-x0)/span
		b := x0 + v.ms(hd.T+hd.Dur)*(x1-x0)/span
		s.Rects = append([]Rect{{a, y0, math.Max(b-a, 1), y1 - y0, CCallout}}, s.Rects...)
		align, x, room := byte('l'), a+4, x1-a-8
		if a > (x0+x1)/2 {
			align, x, room = 'r', b-4, b-x0-8
		}
		s.label(x, y0+10, fit(hd.Text(), room), CText, align)
	}
	return s
}

// ThroughputChart plots requests per second and the accept-queue depth.
func (v *View) ThroughputChart(w, h float64) *Scene {
	s := &Scene{}
	x0, x1, y0, y1 := float64(padL), w-padR2, float64(padT), h-padB
	span := v.Span()
	for _, p := range v.RPS {
		span = math.Max(span, p.X)
	}
	top := 1.0
	for _, p := range v.RPS {
		top = math.Max(top, p.Y)
	}
	qpeak := 0.0
	for _, p := range v.Queue {
		qpeak = math.Max(qpeak, p.Y)
	}
	top = niceStep(top)
	qtop := niceStep(math.Max(qpeak, 1))
	yAxis(s, x0, x1, y0, y1, top, func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) })
	xAxisBottom(s, x0, x1, y1, span)
	series := func(ps []Point, top float64, c Color, step bool) {
		if len(ps) == 0 {
			return
		}
		xy := make([]float64, 0, 4*len(ps))
		for i, p := range ps {
			x, y := x0+p.X*(x1-x0)/span, y1-p.Y/top*(y1-y0)
			if step && i > 0 {
				xy = append(xy, x, xy[len(xy)-1])
			}
			xy = append(xy, x, y)
		}
		s.Lines = append(s.Lines, Line{c, 1.5, xy})
	}
	series(v.RPS, top, CRPS, false)
	series(v.Queue, qtop, CQueue, true)
	// The queue's own axis on the right, and its peak said as the peak.
	yAxisRight(s, x1, y0, y1, qtop, func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }, CQueue)
	queue := "accept queue (right)"
	if len(v.Queue) > 0 {
		queue += ", peak " + strconv.FormatFloat(qpeak, 'f', -1, 64)
	}
	legend(s, x0, y0-4, []legendItem{{"req/s (left)", CRPS}, {queue, CQueue}})
	return s
}

// yAxisRight labels a second line's axis on the chart's right edge, in
// the line's colour: 0, half and top.
func yAxisRight(s *Scene, x1, y0, y1, top float64, format func(float64) string, c Color) {
	for i := 0; i <= 2; i++ {
		y := y1 - float64(i)/2*(y1-y0)
		s.label(x1+4, y+4, format(top*float64(i)/2), c, 'l')
	}
}

// legendItem is one line's name in a chart's legend.
type legendItem struct {
	text string
	c    Color
}

// legend writes the lines' names along the chart's top, each in its
// line's colour.
func legend(s *Scene, x, y float64, items []legendItem) {
	for _, it := range items {
		s.label(x, y, it.text, it.c, 'l')
		x += 6.2*float64(len(it.text)) + 14
	}
}

func yAxis(s *Scene, x0, x1, y0, y1, top float64, format func(float64) string) {
	for i := 0; i <= 2; i++ {
		y := y1 - float64(i)/2*(y1-y0)
		s.rect(x0, y, x1-x0, 0.5, CGrid)
		s.label(x0-4, y+4, format(top*float64(i)/2), CText, 'r')
	}
}

func xAxisBottom(s *Scene, x0, x1, y1, span float64) {
	step := niceStep(span / math.Max(2, (x1-x0)/80))
	for t := 0.0; t <= span+step/1e3; t += step {
		x := x0 + t*(x1-x0)/span
		s.rect(x, y1, 0.5, 4, CGrid)
		s.label(x, y1+14, fmtMS(t), CText, 'c')
	}
}

// Histogram draws latency buckets as bars of equal width (the buckets are
// log-spaced, so this is a log axis) with the percentiles marked. A bucket
// with LeMS < 0 counts everything slower than the one before it. Empty
// buckets at either end are left out.
func Histogram(w, h float64, buckets []stream.Bucket, p50, p90, p99 float64) *Scene {
	s := &Scene{}
	x0, x1, y0, y1 := float64(8), w-padR, float64(padT+12), h-padB
	lo, hi := -1, -1
	for i, b := range buckets {
		if b.Count > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		s.label(w/2, h/2, "latency histogram", CText, 'c')
		return s
	}
	// Keep a bucket of context on each side, when there is one.
	lo, hi = max(lo-1, 0), min(hi+1, len(buckets)-1)
	if buckets[hi].LeMS < 0 && buckets[hi].Count == 0 {
		hi--
	}
	buckets = buckets[lo : hi+1]
	most := 1
	for _, b := range buckets {
		most = max(most, b.Count)
	}
	bw := (x1 - x0) / float64(len(buckets))
	labelEvery := max(1, int(math.Ceil(float64(len(buckets))*44/(x1-x0))))
	var labelled []int // the buckets whose upper bound is labelled
	var bounds []float64
	for i, b := range buckets {
		bh := float64(b.Count) / float64(most) * (y1 - y0)
		s.rect(x0+float64(i)*bw+1, y1-bh, math.Max(bw-2, 1), bh, CBar)
		if (len(buckets)-1-i)%labelEvery == 0 {
			labelled = append(labelled, i)
			bounds = append(bounds, b.LeMS)
		}
	}
	for j, text := range latencyLabels(bounds) {
		s.label(x0+float64(labelled[j]+1)*bw, y1+14, text, CText, 'r')
	}
	// A percentile's x: its bucket, interpolated in log space.
	xOf := func(ms float64) float64 {
		prev := 0.0
		if lo > 0 {
			prev = buckets[0].LeMS / 2 // unknown lower edge of the first
		}
		for i, b := range buckets {
			if b.LeMS < 0 || ms <= b.LeMS || i == len(buckets)-1 {
				f := 0.5
				if b.LeMS > prev && prev > 0 && ms > prev {
					f = math.Min(math.Log(ms/prev)/math.Log(b.LeMS/prev), 1)
				}
				return x0 + (float64(i)+f)*bw
			}
			prev = b.LeMS
		}
		return x1
	}
	lastX := math.Inf(-1)
	for _, p := range []struct {
		ms   float64
		c    Color
		name string
	}{{p50, CP50, "p50"}, {p90, CP90, "p90"}, {p99, CP99, "p99"}} {
		if p.ms <= 0 {
			continue
		}
		x := xOf(p.ms)
		s.rect(x-0.75, y0-2, 1.5, y1-y0+2, p.c)
		// A label that would run into the one before goes a line lower,
		// left of its mark.
		if x-lastX < 26 {
			s.label(x-3, y0+9, p.name, p.c, 'r')
		} else {
			s.label(math.Min(x, x1-8), y0-4, p.name, p.c, 'c')
			lastX = x
		}
	}
	return s
}

// Percentile estimates the p-th percentile (0..1) of a histogram,
// interpolating in log space inside its bucket.
func Percentile(buckets []stream.Bucket, p float64) float64 {
	total := 0
	for _, b := range buckets {
		total += b.Count
	}
	if total == 0 {
		return 0
	}
	rank := p * float64(total)
	seen := 0.0
	prev := 0.0
	for _, b := range buckets {
		if b.Count > 0 && seen+float64(b.Count) >= rank {
			if b.LeMS < 0 {
				return prev
			}
			if prev <= 0 {
				return b.LeMS
			}
			f := (rank - seen) / float64(b.Count)
			return prev * math.Pow(b.LeMS/prev, f)
		}
		seen += float64(b.Count)
		if b.LeMS > 0 {
			prev = b.LeMS
		}
	}
	return prev
}

// Dist is one model's latency distribution for the compare view.
type Dist struct {
	Model   string
	MinMS   float64
	Buckets []stream.Bucket
}

// Overlay draws the distributions on one log axis as cumulative curves:
// the share of requests answered within each latency (0 to 100%), so
// models far apart in latency and in spread read the same way.
func Overlay(w, h float64, dists []Dist) *Scene {
	s := &Scene{}
	x0, x1, y0, y1 := float64(padL), w-padR, float64(padT), h-padB
	lo, hi := math.Inf(1), 0.0
	for _, d := range dists {
		if len(d.Buckets) == 0 {
			continue
		}
		lo = math.Min(lo, math.Max(math.Min(d.MinMS, d.Buckets[0].LeMS), 0.01))
		hi = math.Max(hi, d.Buckets[len(d.Buckets)-1].LeMS)
	}
	if hi == 0 {
		s.label(w/2, h/2, "latency distributions of the models you ran", CText, 'c')
		return s
	}
	if hi <= lo*1.01 {
		lo, hi = lo/2, hi*2
	}
	lo, hi = lo*0.9, hi*1.1
	xOf := func(ms float64) float64 {
		return x0 + math.Log(math.Max(ms, lo)/lo)/math.Log(hi/lo)*(x1-x0)
	}
	yAxis(s, x0, x1, y0, y1, 100, func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + "%" })
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			t := m * math.Pow(10, e)
			if t < lo || t > hi {
				continue
			}
			x := xOf(t)
			s.rect(x, y0, 0.5, y1-y0+4, CGrid)
			s.label(x, y1+14, fmtMS(t), CText, 'c')
		}
	}
	for _, d := range dists {
		total := 0
		for _, b := range d.Buckets {
			total += b.Count
		}
		if total == 0 {
			continue
		}
		// Within a bucket the curve rises straight from its lower edge to
		// its upper one: the buckets say no more than that.
		prev := math.Max(math.Min(d.MinMS, d.Buckets[0].LeMS), 0.01)
		xy := []float64{xOf(prev), y1}
		seen := 0
		for _, b := range d.Buckets {
			seen += b.Count
			xy = append(xy, xOf(b.LeMS), y1-float64(seen)/float64(total)*(y1-y0))
		}
		xy = append(xy, x1, y0)
		s.Lines = append(s.Lines, Line{ModelColor(d.Model), 2, xy})
		s.Points += len(d.Buckets)
	}
	return s
}
