// Package timeline keeps the books of one guest instance's loop: its passes
// and what every request did in them.
//
// A guest is one Go program on one thread with no preemption: at any instant
// either it waits in poll_oneoff (the loop is idle) or exactly one goroutine
// runs. A pass is a busy stretch between two waits. The virtual WASI reports
// every wait (PollEnter, PollExit); the guest SDK reports, through host calls,
// when a handler starts (Begin), when it enters and leaves guest.Compute and
// guest.Block (SpanBegin, SpanEnd) and when it ends (End). From these marks a
// Timeline attributes every nanosecond of a pass to the request that ran in
// it, or to the loop itself (the SDK reading frames, the scheduler), and keeps
// per request:
//
//   - Start and End: the handler's first run and its return;
//   - Run: the time it held the loop (its code ran and nothing else could),
//     of which Compute and Block were inside guest.Compute and guest.Block;
//     the rest of End-Start it was parked (sleeping, on a channel) or waiting
//     for the loop while others ran;
//   - Hold: its longest contiguous stretch on the loop, and where it was:
//     the file:line of the guest.Compute or guest.Block call that made most
//     of it, or (filled by the SDK at End) of the handler.
//
// # Attribution
//
// The Go scheduler switches goroutines without telling anyone, so a mark says
// who runs from then on only until the next switch. The rules:
//
//   - After Begin(id), SpanBegin(id) or SpanEnd(id), id runs.
//   - After PollExit or End, who runs is unknown until the next mark. If that
//     mark is by a request already started (SpanBegin, SpanEnd or End of a
//     request that had parked), it resumed: the stretch is its own. If it is
//     a Begin, the stretch was the loop's own work (reading the frame).
//   - If the next mark is by another started request than the one running,
//     the runner parked and the marker resumed, at some unknown moment: the
//     stretch goes to the marker, whose mark proves it ran last. A handler
//     that computes without guest.Compute and then parks without returning is
//     therefore under-counted; every handler that returns, computes through
//     the SDK or yields to poll_oneoff is counted exactly.
//
// # Notes
//
// A Timeline is used from the guest's goroutine only (every mark comes from a
// host call of the guest or from its poll_oneoff); it has no locks, but for
// Holder. Times are Unix nanoseconds, passed in by the caller so tests can
// drive it.
package timeline

import "sync/atomic"

// Kind says what a request was doing in a segment.
type Kind uint8

// Segment kinds.
const (
	Run     Kind = iota // the handler's own code
	Compute             // inside guest.Compute
	Block               // inside guest.Block: the instance's thread is held in the host
)

func (k Kind) String() string {
	switch k {
	case Compute:
		return "compute"
	case Block:
		return "block"
	}
	return "run"
}

// Segment is one request's contiguous stretch within a pass.
type Segment struct {
	Req   uint32 // the request id (abi.Request.ID)
	Start int64  // Unix ns
	Dur   int64  // ns
	// Kind is what the request spent most of the segment on.
	Kind Kind
	// Where is the position of the guest.Compute or guest.Block call that
	// made most of the segment ("main.go:22"), or "" for handler code.
	Where string
}

// Pass is one busy stretch of the loop, between two waits in poll_oneoff.
type Pass struct {
	Start int64 // Unix ns: poll_oneoff returned
	Dur   int64 // ns until the next poll_oneoff (Final), or so far
	// Segs are the requests that ran in it, in order. Time not in a segment
	// was the loop's own (reading frames, scheduling).
	Segs []Segment
	// Final is set when the pass has ended. A long pass is reported in
	// chunks as its segments close (see Timeline.OnPass).
	Final bool
}

// chunkAfter is how long a pass runs before its closed segments are
// reported without waiting for its end: a loop held for seconds is seen
// while it is held.
const chunkAfter = int64(1e6) // 1 ms

// Phases is what one request did on its instance.
type Phases struct {
	Start   int64 // Unix ns: its handler first ran
	End     int64 // Unix ns: its handler returned
	Run     int64 // ns it held the loop, Compute and Block included
	Compute int64 // ns in guest.Compute
	Block   int64 // ns in guest.Block
	// Hold is its longest contiguous stretch on the loop (ns), and HoldWhere
	// where it was (see Segment.Where).
	Hold      int64
	HoldWhere string
}

// Parked is the time the request's handler was in flight but not running:
// parked in an asynchronous wait, or ready while others held the loop.
func (p *Phases) Parked() int64 { return max(0, p.End-p.Start-p.Run) }

type request struct {
	Phases
	// The stretch now being extended (the request's latest contiguous run).
	stretchStart int64
	stretchDur   int64
	stretchBest  int64 // the longest Compute/Block part of it
	stretchKind  Kind  // and its kind and position
	stretchWhere string
}

// Timeline is the bookkeeping of one instance's loop. The zero value is not
// usable; call New.
type Timeline struct {
	// OnPass, if set, receives every pass that ran a request. A pass
	// shorter than a millisecond comes whole when the loop waits again
	// (Final set); a longer one comes in chunks, each with the pass's Start,
	// its Dur so far and the segments that closed since the last chunk,
	// the last chunk Final. The Pass is reused afterwards: copy what is
	// kept.
	OnPass func(*Pass)

	reqs map[uint32]*request
	free []*request // ended requests' records, for reuse

	// who runs now: a request id, or 0 when unknown; since when; doing what.
	cur      uint32
	since    int64
	curKind  Kind
	curWhere string
	// last is the request whose stretch the previous attributed time
	// extended (0: the loop's own work came between).
	last uint32

	inPass bool
	pass   Pass
	sent   int // segments of pass already reported
	chunk  Pass

	// holder mirrors cur for other goroutines (Holder).
	holder atomic.Uint32
}

// Holder is the request that marked last in the current pass: the one
// whose handler began, or which entered or left guest.Compute or
// guest.Block; 0 while the guest waits in poll_oneoff, or after that
// request returned. It is the request running now unless the guest's
// scheduler has since resumed another, parked one, which makes no mark:
// trust it only about requests that have not run. Unlike the rest of
// Timeline, it may be called from any goroutine: a guest spinning in a
// handler makes no mark, and its host's watchdog asks who holds the loop.
func (tl *Timeline) Holder() uint32 { return tl.holder.Load() }

// New returns an empty Timeline.
func New() *Timeline { return &Timeline{reqs: map[uint32]*request{}} }

// PollExit marks poll_oneoff returning at t: a pass begins. The guest's
// start is the first pass's start: call PollExit before running _start.
func (tl *Timeline) PollExit(t int64) {
	tl.inPass = true
	tl.pass.Start, tl.pass.Dur, tl.pass.Segs = t, 0, tl.pass.Segs[:0]
	tl.sent = 0
	tl.cur, tl.since, tl.last = 0, t, 0
	tl.holder.Store(0)
}

// PollEnter marks the guest entering poll_oneoff at t: the pass ends.
func (tl *Timeline) PollEnter(t int64) {
	if !tl.inPass {
		return // the first wait, before any pass
	}
	tl.account(t, tl.cur)
	tl.inPass = false
	tl.cur, tl.last = 0, 0
	tl.holder.Store(0)
	tl.pass.Dur = t - tl.pass.Start
	if tl.OnPass != nil && (len(tl.pass.Segs) > 0 || tl.sent > 0) {
		tl.report(t, len(tl.pass.Segs), true)
	}
}

// report sends the pass's segments from sent up to n, at t.
func (tl *Timeline) report(t int64, n int, final bool) {
	tl.chunk = Pass{Start: tl.pass.Start, Dur: t - tl.pass.Start, Segs: tl.pass.Segs[tl.sent:n], Final: final}
	tl.sent = n
	tl.OnPass(&tl.chunk)
}

// closed reports the segments that can no longer grow, once the pass is
// long enough to be worth seeing before its end: all but the last, or all
// when the last one's request has ended.
func (tl *Timeline) closed(t int64, lastToo bool) {
	if tl.OnPass == nil || !tl.inPass || t-tl.pass.Start < chunkAfter {
		return
	}
	n := len(tl.pass.Segs)
	if !lastToo {
		n--
	}
	if n > tl.sent {
		tl.report(t, n, false)
	}
}

// Begin marks request id's handler starting at t.
func (tl *Timeline) Begin(id uint32, t int64) {
	tl.account(t, tl.runner(0))
	tl.closed(t, true) // the loop's own work came before: no segment goes on
	var r *request
	if n := len(tl.free); n > 0 {
		r, tl.free = tl.free[n-1], tl.free[:n-1]
		*r = request{}
	} else {
		r = new(request)
	}
	r.Start = t
	tl.reqs[id] = r
	tl.cur, tl.curKind, tl.curWhere = id, Run, ""
	tl.holder.Store(id)
}

// SpanBegin marks request id entering guest.Compute or guest.Block (kind)
// at the position where. An id of 0 (the SDK could not tell which request
// called it: a goroutine the handler started) means the one running.
func (tl *Timeline) SpanBegin(id uint32, kind Kind, where string, t int64) {
	id = tl.marker(id)
	tl.account(t, tl.runner(id))
	tl.cur, tl.curKind, tl.curWhere = id, kind, where
	tl.holder.Store(id)
}

// SpanEnd marks request id leaving guest.Compute or guest.Block.
func (tl *Timeline) SpanEnd(id uint32, t int64) {
	id = tl.marker(id)
	tl.account(t, tl.runner(id))
	tl.cur, tl.curKind, tl.curWhere = id, Run, ""
	tl.holder.Store(id)
}

// End marks request id's handler returning at t and returns its phases. ok
// is false for an id that never began.
func (tl *Timeline) End(id uint32, t int64) (p Phases, ok bool) {
	tl.account(t, tl.runner(id))
	r := tl.reqs[id]
	if r == nil {
		return Phases{}, false
	}
	delete(tl.reqs, id)
	if len(tl.free) < 64 {
		defer func() { tl.free = append(tl.free, r) }()
	}
	r.End = t
	tl.cur, tl.curKind, tl.curWhere = 0, Run, ""
	tl.holder.Store(0)
	if tl.last == id {
		tl.last = 0 // the stretch ended with the handler
	}
	// Its segment is reported at the next Begin or wait, after SetWhere.
	return r.Phases, true
}

// SetWhere names the position of a request's longest hold when no
// guest.Compute or guest.Block call made it (the handler's own code), in
// the Phases End returned and in the current pass.
func (tl *Timeline) SetWhere(id uint32, where string, p *Phases) {
	if p.HoldWhere == "" {
		p.HoldWhere = where
	}
	for i := tl.sent; i < len(tl.pass.Segs); i++ {
		if s := &tl.pass.Segs[i]; s.Req == id && s.Where == "" {
			s.Where = where
		}
	}
}

// marker resolves a mark's request: 0 means whoever runs.
func (tl *Timeline) marker(id uint32) uint32 {
	if id == 0 {
		return tl.cur
	}
	return id
}

// runner says who ran since the last mark, given that the mark now is by
// request id (0: a new request's Begin, or no request).
func (tl *Timeline) runner(id uint32) uint32 {
	if id != 0 && tl.reqs[id] != nil {
		return id // it ran last: it resumed, or it never stopped
	}
	return tl.cur
}

// account attributes [since, t) to request id (0: the loop itself).
func (tl *Timeline) account(t int64, id uint32) {
	d := t - tl.since
	start := tl.since
	tl.since = t
	r := tl.reqs[id]
	if id == 0 || r == nil || d < 0 || !tl.inPass {
		if d > 0 {
			tl.last = 0
		}
		return
	}
	kind, where := Run, ""
	if id == tl.cur {
		kind, where = tl.curKind, tl.curWhere
	}
	r.Run += d
	switch kind {
	case Compute:
		r.Compute += d
	case Block:
		r.Block += d
	}
	// The request's contiguous stretch: extend it, or start a new one.
	if tl.last != id {
		r.stretchStart, r.stretchDur, r.stretchBest, r.stretchKind, r.stretchWhere = start, 0, 0, Run, ""
	}
	r.stretchDur += d
	if kind != Run && d > r.stretchBest {
		r.stretchBest, r.stretchKind, r.stretchWhere = d, kind, where
	}
	// A stretch is where its longest guest.Compute/Block call was, if that
	// call made at least half of it; else it is the handler's own code.
	sKind, sWhere := Run, ""
	if 2*r.stretchBest >= r.stretchDur {
		sKind, sWhere = r.stretchKind, r.stretchWhere
	}
	if r.stretchDur > r.Hold {
		r.Hold, r.HoldWhere = r.stretchDur, sWhere
	}
	tl.last = id
	// The pass's segment: extend the last one if it is the same stretch.
	if n := len(tl.pass.Segs); n > 0 && tl.pass.Segs[n-1].Req == id && tl.pass.Segs[n-1].Start+tl.pass.Segs[n-1].Dur == start {
		s := &tl.pass.Segs[n-1]
		s.Dur += d
		s.Kind, s.Where = sKind, sWhere
		return
	}
	tl.pass.Segs = append(tl.pass.Segs, Segment{Req: id, Start: start, Dur: d, Kind: sKind, Where: sWhere})
}
