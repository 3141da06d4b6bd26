// Package live is the model behind the playground's live view: it takes the
// run's event stream (trace batches, stats, phases) and keeps what the view
// draws — one lane per worker with a bar per request, blocked spans, loop
// lag, accept-queue depth, throughput, spawns and crashes — then lays each
// chart out as a Scene of rectangles, polylines and labels for a canvas.
//
//	v := live.New("reactor")
//	v.AddTrace(batch)          // on each SSE "trace" message
//	v.AddStats(stats)          // on each SSE "stats" message
//	sc := v.Timeline(800, 300) // on the next animation frame, if v.Dirty
//
// It has no dependency on the browser, so it is tested natively.
//
// # Notes
//
//   - Times are the host's Unix nanoseconds, relative to the first event the
//     view saw: the browser's clock never enters.
//   - Memory is bounded: at most MaxRequests bars and MaxLagPoints lag
//     samples are kept; beyond them the oldest half is dropped, and the
//     view says how many it dropped.
//   - Layout aggregates: bars that fall on the same pixels merge, so a
//     Scene has at most a few rectangles per pixel column and lane however
//     many requests ran.
//   - A View is not safe for concurrent use; the app uses it from the
//     browser's one thread.
package live

import (
	"math"
	"slices"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of what a View keeps.
const (
	MaxRequests  = 40000
	MaxLagPoints = 20000
	MaxSubRows   = 12 // overlapping requests of one lane (a loop) stack up to this many rows
	// Overflow is the Sub of a request that found every sub-row of its
	// lane taken: it is not drawn as a bar of its own but counted in the
	// lane's overflow band, whose height at each instant is how many such
	// requests were in flight ("+188 more").
	Overflow = MaxSubRows
)

// GroupColor is the CSS colour of the load's i-th group, as the timeline
// draws it (GroupColorOf).
func GroupColor(i int) string { return "var(--c-" + ColorNames[GroupColorOf(i)] + ")" }

// Req is one request's bar.
type Req struct {
	Lane, Sub  int
	Start, End int64 // End 0: still running
	Accept     int64 // when its connection was accepted, if that is known and earlier
	// Sent is when its client sent it, if the client said
	// (experiment.SentHeader) and it was earlier, and Taken when a worker
	// took it: accepted its connection (Accepted: it waited in the
	// kernel's accept queue) or, on a kept-alive connection, read it.
	Sent, Taken int64
	Accepted    bool
	Status      int
	Failed      bool
	Lost        bool // its end was never seen (sampled away, or the run stopped)
	// Served is when its handler first ran (0: not yet, or not known): on
	// a loop, before it the request waited for the loop.
	Served int64
	// Label is "GET /?ms=200".
	Label string
	// Group is the index of its load group in View.Groups, -1 if none.
	Group int
}

// Seg is one request's stretch on a loop: the loop ran it and nothing else.
type Seg struct {
	Lane   int
	Req    int // index in View.Reqs, -1 if its request's events were sampled away
	T, Dur int64
	Kind   string // "compute", "block" or "" (the handler's own code)
	Label  string // "GET /?ms=200 at main.go:22"
	Where  string // "main.go:22": where its code was when the stretch ended, if known
}

// LoopPass is one busy stretch of a loop lane.
type LoopPass struct {
	Lane   int
	T, Dur int64
	Busy   int64 // of Dur, busy (merged passes leave gaps)
}

// Hold is a long stretch of one request on a loop, called out on the
// charts: "the loop was held 212 ms by GET /?ms=200 at main.go:22".
type Hold struct {
	Lane   int
	T, Dur int64
	Label  string // "GET /?ms=200 at main.go:22"
}

// HoldCallout is the shortest hold the view calls out (ms).
const HoldCallout = 50

// Text says the hold in words.
func (h Hold) Text() string {
	return "the loop was held " + FormatMS(float64(h.Dur)/1e6) + " by " + h.Label
}

// Lane is one worker: a process (process model), a thread (thread model) or
// a loop (reactor).
type Lane struct {
	Process, Index int
	Name           string
	PID            int
	State          string
	subs           []int // per sub-row, the index in View.Reqs of the request on it, or -1
	blockedSince   int64
}

// Span is a time interval on a lane.
type Span struct {
	Lane       int
	Start, End int64
}

// Mark is a lifecycle event drawn on the timeline.
type Mark struct {
	T    int64
	Lane int // the lane it happened on (exit and kill: every lane of Proc)
	Proc int
	Kind string // "spawn", "exit", "crash", "kill"
	Text string
}

// Point is a sample of a series: X in milliseconds since the view's start.
type Point struct{ X, Y float64 }

// View is the live view of one model's run.
type View struct {
	Model string
	// Groups are the load's groups, in the order of the experiment
	// (SetGroups): a request's group is an index in it.
	Groups []string
	T0     int64 // first event, Unix ns
	Now    int64 // latest event, Unix ns
	Lanes  []*Lane
	Reqs   []Req
	// Blocked spans (lane held in guest.Block); End 0 while blocked.
	Blocked []Span
	// KeepAlive spans: a process or thread held by an idle keep-alive
	// connection; End 0 while held.
	KeepAlive []Span
	// A loop's passes and the requests' stretches in them (reactor).
	Passes []LoopPass
	Segs   []Seg
	// Holds are the stretches of HoldCallout ms or more.
	Holds []Hold
	Marks []Mark
	Lag   []Point      // loop lag samples, ms
	Util  []Point      // loop utilisation, 0..1
	Queue []Point      // accept-queue depth
	RPS   []Point      // throughput from stats (X = stats t_ms)
	Stats stream.Stats // the latest
	// Lifecycle is the run's spawns, exits and kills, in the order they
	// came: the list under the timeline, kept to show again.
	Lifecycle []stream.Event
	// WorkersGone is set when the host says the run's workers are gone
	// (its stopped phase): its scoreboard is all open slots.
	WorkersGone bool
	// Dropped counts request events the host sampled away plus bars and
	// samples this view let go of.
	Dropped int
	// Dirty is set by every change; the app clears it after drawing.
	Dirty bool
	// SpanMS, if set, is the time axis's length in ms, in place of the
	// run's own (Span): small multiples of several runs share one axis.
	SpanMS float64
	// Zoom is the stretch of the run the timeline shows (ZoomAt, Pan);
	// the zero Zoom shows all of it.
	Zoom Zoom

	// Pool is the worker processes' thread pools, summed, as their task
	// events tell (the threads as their counters last said).
	Pool PoolStats

	// Listeners are, by process, what its listener held over time (event
	// MPM): X ms since the start, Y the idle keep-alive connections it
	// held between their requests (mod_status's async keep-alive).
	Listeners map[int][]Point

	laneIdx     map[[2]int]int
	poolQueue   map[[2]uint64]int64 // (pid, task) → when it was queued
	poolTask    map[[2]uint64]int   // (pid, task) → its bar in Reqs, while it runs
	poolThreads map[int]int         // process → its pool's threads
	open        map[[2]uint64]int   // (pid, req) → index in Reqs, while in flight
	known       map[[2]uint64]int   // (pid, req) → index in Reqs, for passes that come after req_end
	conns       map[[2]uint64]int64
}

// New returns an empty view for model.
func New(model string) *View {
	return &View{
		Model:       model,
		laneIdx:     map[[2]int]int{},
		poolQueue:   map[[2]uint64]int64{},
		poolTask:    map[[2]uint64]int{},
		poolThreads: map[int]int{},
		open:        map[[2]uint64]int{},
		known:       map[[2]uint64]int{},
		conns:       map[[2]uint64]int64{},
		Dirty:       true,
	}
}

// spec is the view's model's row of experiment.ModelTable (the default
// model's for a name not in it: the browser's models draw as a loop).
func (v *View) spec() *experiment.ModelSpec {
	if m := experiment.ModelNamed(v.Model); m != nil {
		return m
	}
	return experiment.ModelNamed(experiment.DefaultModel)
}

// ms converts a host time to milliseconds since the view's start.
func (v *View) ms(t int64) float64 { return float64(t-v.T0) / 1e6 }

// lane returns the index of the lane (process, index), adding it.
func (v *View) lane(process, index, pid int) int {
	threads := v.spec().Threads
	if !threads {
		index = 0 // one lane per process (process model) or loop (reactor)
	}
	k := [2]int{process, index}
	if i, ok := v.laneIdx[k]; ok {
		if pid != 0 {
			v.Lanes[i].PID = pid
		}
		return i
	}
	name := v.spec().LaneLabel(process, index)
	v.Lanes = append(v.Lanes, &Lane{Process: process, Index: index, Name: name, PID: pid})
	i := len(v.Lanes) - 1
	v.laneIdx[k] = i
	return i
}

// laneOrder returns the lanes' rows: lanes sorted by (process, index).
func (v *View) laneOrder() []int {
	rows := make([]int, len(v.Lanes))
	order := make([]int, len(v.Lanes))
	for i := range order {
		order[i] = i
	}
	for i := 1; i < len(order); i++ { // insertion sort: few lanes, mostly sorted
		for j := i; j > 0 && laneLess(v.Lanes[order[j]], v.Lanes[order[j-1]]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for row, i := range order {
		rows[i] = row
	}
	return rows
}

func laneLess(a, b *Lane) bool {
	if a.Process != b.Process {
		return a.Process < b.Process
	}
	return a.Index < b.Index
}

// AddTrace takes one batch of trace events.
func (v *View) AddTrace(tr *stream.Trace) {
	v.Dropped += tr.Dropped
	for i := range tr.Events {
		v.add(&tr.Events[i])
	}
	v.Dirty = true
}

func (v *View) add(e *stream.Event) {
	if e.T == 0 {
		return
	}
	if v.T0 == 0 || e.T < v.T0 && len(v.Reqs) == 0 {
		v.T0 = e.T
	}
	if e.T > v.Now {
		v.Now = e.T
	}
	switch e.Kind {
	case stream.EventSpawn, stream.EventExit, stream.EventKill:
		v.Lifecycle = append(v.Lifecycle, *e)
	}
	switch e.Kind {
	case stream.EventSpawn:
		l := v.lane(e.Process, e.Lane, e.PID)
		v.Marks = append(v.Marks, Mark{T: e.T, Lane: l, Proc: e.Process, Kind: "spawn", Text: "spawned pid " + strconv.Itoa(e.PID)})
	case stream.EventExit:
		l := v.lane(e.Process, e.Lane, e.PID)
		kind := "exit"
		if e.Status != 0 {
			kind = "crash"
			v.frozen(l, e.T, e.Dur)
		}
		text := "pid " + strconv.Itoa(e.PID) + " exited"
		if e.Cause != "" {
			text += ": " + e.Cause
		}
		v.Marks = append(v.Marks, Mark{T: e.T, Lane: l, Proc: e.Process, Kind: kind, Text: text})
		v.endProcess(e.Process, e.T)
	case stream.EventKill:
		l := v.lane(e.Process, e.Lane, e.PID)
		v.Marks = append(v.Marks, Mark{T: e.T, Lane: l, Proc: e.Process, Kind: "kill", Text: "killed pid " + strconv.Itoa(e.PID) + ": " + e.Cause})
	case stream.EventConn:
		v.conns[[2]uint64{uint64(e.PID), e.Conn}] = e.T
	case stream.EventReqStart:
		v.reqStart(e)
	case stream.EventReqRun:
		if ri, ok := v.open[[2]uint64{uint64(e.PID), e.Req}]; ok && v.Reqs[ri].Served == 0 {
			v.Reqs[ri].Served = e.T
		}
	case stream.EventReqEnd:
		v.reqEnd(e)
	case stream.EventPoolQueue, stream.EventPoolStart, stream.EventPoolDone, stream.EventPoolOverflow, stream.EventPool:
		v.pool(e)
	case stream.EventState:
		v.state(e)
	case stream.EventQueue:
		v.Queue = append(v.Queue, Point{v.ms(e.T), e.Value})
	case stream.EventLag:
		v.lag(e)
	case stream.EventPass:
		v.passes(e)
	case stream.EventConns:
		if !v.spec().Loop && !v.spec().PinsLane {
			if v.Listeners == nil {
				v.Listeners = map[int][]Point{}
			}
			v.Listeners[e.Process] = append(v.Listeners[e.Process], Point{v.ms(e.T), float64(e.Waiting)})
		}
	}
}

// MaxPasses caps the loop passes (and, alike, the segments) a view keeps.
const MaxPasses = 40000

// passes takes a loop's pass event: busy stretches, and which request ran
// when.
func (v *View) passes(e *stream.Event) {
	li := v.lane(e.Process, 0, e.PID)
	for _, p := range e.Passes {
		busy := p.Busy
		if busy == 0 {
			busy = p.Dur
		}
		if i := v.lastPass(li); i >= 0 && v.Passes[i].T == p.T {
			v.Passes[i].Dur, v.Passes[i].Busy = p.Dur, busy // a long pass, sent in chunks
		} else {
			v.Passes = append(v.Passes, LoopPass{Lane: li, T: p.T, Dur: p.Dur, Busy: busy})
		}
		for _, s := range p.Segs {
			ri, ok := v.known[[2]uint64{uint64(e.PID), s.Req}]
			if !ok {
				ri = -1
			}
			label := "a request"
			if ri >= 0 {
				r := &v.Reqs[ri]
				label = r.Label
				if r.Served == 0 || s.T < r.Served {
					r.Served = s.T
				}
			}
			if s.Where != "" {
				label += " at " + s.Where
			}
			v.Segs = append(v.Segs, Seg{Lane: li, Req: ri, T: s.T, Dur: s.Dur, Kind: s.Kind, Label: label, Where: s.Where})
			if s.Dur >= HoldCallout*1e6 && len(v.Holds) < MaxPasses {
				v.Holds = append(v.Holds, Hold{Lane: li, T: s.T, Dur: s.Dur, Label: label})
			}
		}
		if p.T+p.Dur > v.Now {
			v.Now = p.T + p.Dur
		}
	}
	if len(v.Passes) > MaxPasses {
		drop := len(v.Passes) - MaxPasses/2
		v.Dropped += drop
		v.Passes = append(v.Passes[:0], v.Passes[drop:]...)
	}
	if len(v.Segs) > MaxPasses {
		drop := len(v.Segs) - MaxPasses/2
		v.Dropped += drop
		v.Segs = append(v.Segs[:0], v.Segs[drop:]...)
	}
}

// lastPass is the index of lane li's latest pass among the last few, or -1.
func (v *View) lastPass(li int) int {
	for i := len(v.Passes) - 1; i >= 0 && i >= len(v.Passes)-64; i-- {
		if v.Passes[i].Lane == li {
			return i
		}
	}
	return -1
}

// LongestHold is the longest stretch one request held a loop (ok false if
// no request held one for HoldCallout ms).
func (v *View) LongestHold() (h Hold, ok bool) {
	for _, x := range v.Holds {
		if x.Dur > h.Dur {
			h, ok = x, true
		}
	}
	return h, ok
}

func (v *View) reqStart(e *stream.Event) {
	li := v.lane(e.Process, e.Lane, e.PID)
	l := v.Lanes[li]
	if !v.spec().Loop {
		// One request at a time per process or thread: one still open
		// here ended unseen.
		for _, ri := range l.subs {
			if ri >= 0 {
				v.close(ri, e.T, true)
			}
		}
	}
	r := Req{Lane: li, Start: e.T, Label: label(e), Group: slices.Index(v.Groups, e.Group)}
	ck := [2]uint64{uint64(e.PID), e.Conn}
	r.Taken = e.T
	if at, ok := v.conns[ck]; ok {
		if e.T-at > 1e6 { // show a wait of a millisecond or more
			r.Accept = at
		}
		r.Taken, r.Accepted = min(e.T, at), true
		delete(v.conns, ck)
	}
	if e.Sent > 0 && e.Sent < r.Taken && r.Taken-e.Sent < maxSentGap {
		r.Sent = e.Sent
	}
	r.Sub = v.sub(l, len(v.Reqs))
	v.push(r)
	v.open[[2]uint64{uint64(e.PID), e.Req}] = len(v.Reqs) - 1
	v.known[[2]uint64{uint64(e.PID), e.Req}] = len(v.Reqs) - 1
}

// maxSentGap bounds the wait before a worker took a request that a
// client's Sent is believed for: longer is a client clock that is off.
const maxSentGap = int64(10 * 60 * 1e9)

// PoolStats are a thread pool's counters (nginx's thread_pool, libuv's
// pool): its threads, how many run a task, the tasks waiting in its
// queue, done, and refused because the queue was full.
type PoolStats struct {
	Threads, Busy, Queued int
	Done, Overflows       int
}

// poolLaneBase sets a pool thread's lanes apart from its process's own:
// pool thread k of a process is its lane poolLaneBase+k, drawn under it.
const poolLaneBase = 1000

// pool follows a worker process's thread pool: each pool thread is a lane
// of its own under its process, on which each task is a bar from when the
// thread took it to when it finished, with its wait in the pool's queue
// drawn before it (as a connection's wait to be accepted), labelled by its
// request.
func (v *View) pool(e *stream.Event) {
	key := [2]uint64{uint64(e.PID), e.Task}
	switch e.Kind {
	case stream.EventPoolQueue:
		v.poolQueue[key] = e.T
	case stream.EventPoolStart:
		k := [2]int{e.Process, poolLaneBase + e.PoolThread}
		li, ok := v.laneIdx[k]
		if !ok {
			v.Lanes = append(v.Lanes, &Lane{Process: e.Process, Index: poolLaneBase + e.PoolThread,
				Name: "pool " + strconv.Itoa(e.Process) + "." + strconv.Itoa(e.PoolThread), PID: e.PID})
			li = len(v.Lanes) - 1
			v.laneIdx[k] = li
		}
		l := v.Lanes[li]
		r := Req{Lane: li, Start: e.T, Group: -1, Label: e.Work}
		if ri, ok := v.known[[2]uint64{uint64(e.PID), e.Req}]; ok {
			r.Label, r.Group = v.Reqs[ri].Label+" ("+e.Work+")", v.Reqs[ri].Group
		}
		if at, ok := v.poolQueue[key]; ok && e.T-at > 1e6 { // waited a millisecond or more
			r.Accept = at
		}
		delete(v.poolQueue, key)
		r.Sub = v.sub(l, len(v.Reqs))
		v.push(r)
		v.poolTask[key] = len(v.Reqs) - 1
	case stream.EventPoolDone:
		v.Pool.Done++
		if ri, ok := v.poolTask[key]; ok {
			v.close(ri, e.T, false)
			v.Reqs[ri].Status = 200
			delete(v.poolTask, key)
		}
	case stream.EventPoolOverflow:
		v.Pool.Overflows++
	case stream.EventPool:
		v.poolThreads[e.Process] = e.PoolThreads
		v.Pool.Threads = 0
		for _, n := range v.poolThreads {
			v.Pool.Threads += n
		}
	}
	v.Pool.Busy, v.Pool.Queued = len(v.poolTask), len(v.poolQueue)
}

// label names a request as the view writes it: "GET /?ms=200".
func label(e *stream.Event) string {
	if e.Method == "" {
		return e.Path
	}
	return e.Method + " " + e.Path
}

// sub finds a free sub-row of l for request index ri.
func (v *View) sub(l *Lane, ri int) int {
	for i, o := range l.subs {
		if o < 0 {
			l.subs[i] = ri
			return i
		}
	}
	if len(l.subs) < MaxSubRows {
		l.subs = append(l.subs, ri)
		return len(l.subs) - 1
	}
	return Overflow
}

func (v *View) push(r Req) {
	if len(v.Reqs) >= MaxRequests {
		v.compact()
	}
	v.Reqs = append(v.Reqs, r)
}

// compact drops the older half of the finished bars.
func (v *View) compact() {
	half := len(v.Reqs) / 2
	keep := v.Reqs[:0:0]
	remap := map[int]int{}
	for i, r := range v.Reqs {
		if i < half && r.End != 0 {
			v.Dropped++
			continue
		}
		remap[i] = len(keep)
		keep = append(keep, r)
	}
	v.Reqs = keep
	for k, i := range v.open {
		v.open[k] = remap[i]
	}
	for k, i := range v.known {
		if j, ok := remap[i]; ok {
			v.known[k] = j
		} else {
			delete(v.known, k)
		}
	}
	for i := range v.Segs {
		if j, ok := remap[v.Segs[i].Req]; ok {
			v.Segs[i].Req = j
		} else {
			v.Segs[i].Req = -1
		}
	}
	for _, l := range v.Lanes {
		for s, i := range l.subs {
			if i >= 0 {
				l.subs[s] = remap[i]
			}
		}
	}
}

func (v *View) reqEnd(e *stream.Event) {
	k := [2]uint64{uint64(e.PID), e.Req}
	ri, ok := v.open[k]
	if !ok { // its start was sampled away
		li := v.lane(e.Process, e.Lane, e.PID)
		start := e.T - e.Dur
		r := Req{Lane: li, Start: start, Sub: Overflow, Group: slices.Index(v.Groups, e.Group)}
		if free := slices.Index(v.Lanes[li].subs, -1); free >= 0 {
			r.Sub = free // drawn on a free row, which it does not hold: it has ended
		} else if n := len(v.Lanes[li].subs); n < MaxSubRows {
			r.Sub = n
		}
		v.push(r)
		ri = len(v.Reqs) - 1
		if start < v.T0 {
			v.Reqs[ri].Start = v.T0
		}
		v.known[k] = ri
	}
	delete(v.open, k)
	r := &v.Reqs[ri]
	if r.Label == "" {
		r.Label = label(e)
	}
	if e.Service > 0 && r.Served == 0 {
		// Its handler ran Service before the response went out (on a
		// loop, its first segment says exactly when).
		r.Served = max(r.Start, e.T-e.Service)
	}
	r.Status = e.Status
	r.Failed = e.Status >= 500 || e.Status == 0 || e.Cause != ""
	v.runaway(ri, e)
	v.close(ri, e.T, false)
}

// frozen draws the hold of the request that froze loop lane li's process
// until its runaway guard killed it at t: held is the supervisor's
// reading of the guard (how long the request it cut off had run; 0 for
// any other death, which draws nothing). The frozen process took that
// request's last events with it (they were queued in it), so the picture
// cannot name it: it is "a request past its timeout".
func (v *View) frozen(li int, t, held int64) {
	if !v.spec().Loop || held < HoldCallout*1e6 {
		return
	}
	from := max(t-held, v.T0)
	if i := v.lastPass(li); i >= 0 {
		from = max(from, v.Passes[i].T+v.Passes[i].Dur)
	}
	v.holdBy(-1, li, from, t, "a request past its timeout, until its guard killed the frozen process")
}

// hold draws request ri holding its loop from from to to, and calls it
// out: a hold no pass reported.
func (v *View) hold(ri int, from, to int64, why string) {
	v.holdBy(ri, v.Reqs[ri].Lane, from, to, v.Reqs[ri].Label+why)
}

// holdBy draws lane li held from from to to by request ri (-1: not
// known), labelled.
func (v *View) holdBy(ri, li int, from, to int64, label string) {
	v.Passes = append(v.Passes, LoopPass{Lane: li, T: from, Dur: to - from, Busy: to - from})
	v.Segs = append(v.Segs, Seg{Lane: li, Req: ri, T: from, Dur: to - from, Label: label})
	v.Holds = append(v.Holds, Hold{Lane: li, T: from, Dur: to - from, Label: label})
}

// runaway draws the hold of a request the host cut off at its timeout (a
// 504 with the host's cause) on a loop: its guest spun without returning
// to the loop, so no pass closed and no segment came, yet it held the
// loop from the loop's last known activity (or its own start) until the
// kill. That stretch is drawn as its hold, and called out. A request cut
// off that never ran timed out waiting for the loop: the hold is the
// request's that ran last on that loop (or, its events sampled away, an
// unnamed one's).
func (v *View) runaway(ri int, e *stream.Event) {
	if !v.spec().Loop || e.Status != 504 || e.Cause == "" {
		return
	}
	const why = ", until the timeout killed the loop"
	lane, from := v.Reqs[ri].Lane, v.Reqs[ri].Served
	if from == 0 {
		holder := -1
		for _, oi := range v.open {
			o := &v.Reqs[oi]
			if oi != ri && o.Lane == lane && o.Served != 0 && (holder < 0 || o.Served > v.Reqs[holder].Served) {
				holder = oi
			}
		}
		ri, from = holder, v.Reqs[ri].Start
		if holder >= 0 {
			from = v.Reqs[holder].Served
		}
	}
	if i := v.lastPass(lane); i >= 0 {
		from = max(from, v.Passes[i].T+v.Passes[i].Dur)
	}
	if e.T-from < HoldCallout*1e6 {
		return // the loop was not silent: its segments tell
	}
	if ri < 0 {
		v.holdBy(-1, lane, from, e.T, "a request past its timeout"+why)
		return
	}
	v.hold(ri, from, e.T, why)
}

// close ends request ri at t.
func (v *View) close(ri int, t int64, lost bool) {
	r := &v.Reqs[ri]
	if r.End == 0 {
		r.End = max(t, r.Start)
		r.Lost = lost
	}
	if r.Lane < len(v.Lanes) {
		l := v.Lanes[r.Lane]
		if r.Sub < len(l.subs) && l.subs[r.Sub] == ri {
			l.subs[r.Sub] = -1
		}
	}
	if lost {
		for k, i := range v.open {
			if i == ri {
				delete(v.open, k)
			}
		}
	}
}

// endProcess closes every open request and blocked span of a process that
// exited: a crash takes them with it.
func (v *View) endProcess(process int, t int64) {
	for li, l := range v.Lanes {
		if l.Process != process {
			continue
		}
		for _, ri := range l.subs {
			if ri >= 0 {
				v.Reqs[ri].Failed = true
				v.close(ri, t, true)
			}
		}
		v.unblock(li, t)
		endSpan(v.KeepAlive, li, t)
		l.State = stream.StateDead
	}
}

func (v *View) state(e *stream.Event) {
	li := v.lane(e.Process, e.Lane, e.PID)
	l := v.Lanes[li]
	if e.State == l.State {
		return
	}
	if e.State == stream.StateBlocked {
		l.blockedSince = e.T
		v.Blocked = append(v.Blocked, Span{Lane: li, Start: e.T})
	} else {
		v.unblock(li, e.T)
	}
	if !v.spec().Loop {
		if l.State == stream.StateKeepAlive {
			endSpan(v.KeepAlive, li, e.T)
		}
		if e.State == stream.StateKeepAlive {
			v.KeepAlive = append(v.KeepAlive, Span{Lane: li, Start: e.T})
		}
	}
	l.State = e.State
}

// endSpan ends the open span of lane li in spans at t.
func endSpan(spans []Span, li int, t int64) {
	for i := len(spans) - 1; i >= 0; i-- {
		if spans[i].Lane == li && spans[i].End == 0 {
			spans[i].End = t
			return
		}
	}
}

func (v *View) unblock(li int, t int64) {
	l := v.Lanes[li]
	if l.blockedSince == 0 {
		return
	}
	for i := len(v.Blocked) - 1; i >= 0; i-- {
		if v.Blocked[i].Lane == li && v.Blocked[i].End == 0 {
			v.Blocked[i].End = t
			break
		}
	}
	l.blockedSince = 0
}

func (v *View) lag(e *stream.Event) {
	v.Util = append(v.Util, Point{v.ms(e.T), e.Value})
	n := len(e.Samples)
	// The samples were taken over the 100 ms before the event: spread them.
	for i, s := range e.Samples {
		x := v.ms(e.T) - 100*float64(n-1-i)/float64(max(n, 1))
		v.Lag = append(v.Lag, Point{x, float64(s) / 1e6})
	}
	if len(v.Lag) > MaxLagPoints {
		drop := len(v.Lag) - MaxLagPoints/2
		v.Dropped += drop
		v.Lag = append(v.Lag[:0], v.Lag[drop:]...)
	}
}

// AddStats takes one stats message.
func (v *View) AddStats(s *stream.Stats) {
	v.Stats = *s
	v.RPS = append(v.RPS, Point{s.TMS, s.RPS})
	v.Dirty = true
}

// Stop ends the run at the latest event: requests still open were lost.
func (v *View) Stop() {
	for _, ri := range v.open {
		v.close(ri, v.Now, false)
		v.Reqs[ri].Lost = true
	}
	clear(v.open)
	for li := range v.Lanes {
		v.unblock(li, v.Now)
		endSpan(v.KeepAlive, li, v.Now)
	}
	v.Dirty = true
}

// Answered counts the requests drawn answered (ended, not failed).
func (v *View) Answered() int {
	n := 0
	for _, r := range v.Reqs {
		if r.End != 0 && !r.Failed && !r.Lost {
			n++
		}
	}
	return n
}

// Running counts the requests in flight.
func (v *View) Running() int { return len(v.open) }

// Span returns the time the view covers, in ms (at least a second).
func (v *View) Span() float64 {
	if v.SpanMS > 0 {
		return v.SpanMS
	}
	return v.OwnSpan()
}

// OwnSpan is the time the view's run covers (at least a second), whatever
// SpanMS says.
func (v *View) OwnSpan() float64 {
	if v.T0 == 0 {
		return 1000
	}
	return math.Max(1000, v.ms(v.Now))
}
