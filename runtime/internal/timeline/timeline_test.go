package timeline

import (
	"testing"
)

// recorder keeps copies of the passes a Timeline reports.
type recorder struct{ passes []Pass }

func newRecorded() (*Timeline, *recorder) {
	tl, rec := New(), &recorder{}
	tl.OnPass = func(p *Pass) {
		c := *p
		c.Segs = append([]Segment(nil), p.Segs...)
		rec.passes = append(rec.passes, c)
	}
	return tl, rec
}

func end(t *testing.T, tl *Timeline, id uint32, at int64) Phases {
	t.Helper()
	p, ok := tl.End(id, at)
	if !ok {
		t.Fatalf("End(%d): request never began", id)
	}
	return p
}

// checkDisjoint fails if two segments of a pass overlap or leave the pass:
// the loop runs one request at a time.
func checkDisjoint(t *testing.T, passes []Pass) {
	t.Helper()
	for _, p := range passes {
		last := p.Start
		for _, s := range p.Segs {
			if s.Start < last || s.Dur < 0 || s.Start+s.Dur > p.Start+p.Dur {
				t.Fatalf("pass %+v: segment %+v overlaps another or leaves the pass", p, s)
			}
			last = s.Start + s.Dur
		}
	}
}

// Three CPU-bound requests read in one pass run one after another: each
// waits for the ones before it, and each holds the loop for its compute.
func TestComputeHoldsTheLoopOneAtATime(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollEnter(0)
	tl.PollExit(1000)
	var got []Phases
	at := int64(1010)
	for id := uint32(1); id <= 3; id++ {
		tl.Begin(id, at)
		tl.SpanBegin(id, Compute, "main.go:22", at+2)
		tl.SpanEnd(id, at+202)
		got = append(got, end(t, tl, id, at+203))
		at += 210 // the SDK reads the next frame in between: the loop's own time
	}
	tl.PollEnter(at)

	for i, p := range got {
		if p.Run != 203 || p.Compute != 200 || p.Block != 0 {
			t.Errorf("request %d: run %d compute %d block %d, want 203, 200, 0", i+1, p.Run, p.Compute, p.Block)
		}
		if p.Hold != 203 || p.HoldWhere != "main.go:22" {
			t.Errorf("request %d: hold %d at %q, want 203 at main.go:22", i+1, p.Hold, p.HoldWhere)
		}
		if p.Parked() != 0 {
			t.Errorf("request %d: parked %d, want 0", i+1, p.Parked())
		}
	}
	if len(rec.passes) != 1 {
		t.Fatalf("%d passes, want 1", len(rec.passes))
	}
	p := rec.passes[0]
	if p.Start != 1000 || p.Dur != at-1000 {
		t.Errorf("pass %d+%d, want 1000+%d", p.Start, p.Dur, at-1000)
	}
	if len(p.Segs) != 3 {
		t.Fatalf("segments %+v, want one per request", p.Segs)
	}
	for i, s := range p.Segs {
		if s.Req != uint32(i+1) || s.Dur != 203 || s.Kind != Compute || s.Where != "main.go:22" {
			t.Errorf("segment %d = %+v, want request %d, 203 ns of compute at main.go:22", i, s, i+1)
		}
	}
	checkDisjoint(t, rec.passes)
}

// A sleeping request parks: it runs a little when it starts and a little
// when it resumes, in two passes, and was parked in between. Others run
// while it sleeps.
func TestSleepParks(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollExit(0)
	tl.Begin(1, 5)
	tl.Begin(2, 20) // 1 called time.Sleep at some point; 2's Begin proves it parked
	tl.PollEnter(30)
	tl.PollExit(50_000)
	p2 := end(t, tl, 2, 50_010) // 2's timer fired first
	p1 := end(t, tl, 1, 50_030) // then 1 resumed and returned
	tl.PollEnter(50_040)

	if p1.Run != 15+20 {
		t.Errorf("request 1 ran %d, want 35 (15 before parking, 20 after)", p1.Run)
	}
	if p1.Parked() != 50_025-35 {
		t.Errorf("request 1 parked %d, want %d", p1.Parked(), 50_025-35)
	}
	if p2.Run != 10+10 || p2.Start != 20 || p2.End != 50_010 {
		t.Errorf("request 2: %+v, want 20 ns run from 20 to 50010", p2)
	}
	if len(rec.passes) != 2 {
		t.Fatalf("%d passes, want 2", len(rec.passes))
	}
	second := rec.passes[1].Segs
	if len(second) != 2 || second[0].Req != 2 || second[1].Req != 1 {
		t.Errorf("second pass %+v: want request 2 then request 1 (each resumed)", second)
	}
	checkDisjoint(t, rec.passes)
}

// The time between a pass's start and a Begin is the loop's own (reading
// the frame), not the previous request's; the time between a request's End
// and the next Begin likewise.
func TestFrameReadingIsTheLoops(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollExit(0)
	tl.Begin(1, 100)
	p1 := end(t, tl, 1, 150)
	tl.Begin(2, 400)
	p2 := end(t, tl, 2, 420)
	tl.PollEnter(500)
	if p1.Run != 50 || p2.Run != 20 {
		t.Errorf("runs %d and %d, want 50 and 20", p1.Run, p2.Run)
	}
	var inSegs int64
	for _, s := range rec.passes[0].Segs {
		inSegs += s.Dur
	}
	if inSegs != 70 || rec.passes[0].Dur != 500 {
		t.Errorf("segments cover %d of a %d-ns pass, want 70 of 500", inSegs, rec.passes[0].Dur)
	}
}

// A request that resumes in a later pass and computes is the one holding
// the loop from the pass's start, although no Begin says so.
func TestResumedRequestHolds(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollExit(0)
	tl.Begin(7, 1)
	tl.PollEnter(3) // 7 parked (time.Sleep before computing)
	tl.PollExit(1000)
	tl.SpanBegin(7, Compute, "main.go:30", 1002)
	tl.SpanEnd(7, 5002)
	p := end(t, tl, 7, 5003)
	tl.PollEnter(5004)
	if p.Hold != 4003 || p.HoldWhere != "main.go:30" {
		t.Errorf("hold %d at %q, want 4003 at main.go:30 (from the pass's start)", p.Hold, p.HoldWhere)
	}
	if s := rec.passes[1].Segs; len(s) != 1 || s[0].Start != 1000 || s[0].Req != 7 {
		t.Errorf("second pass %+v, want one segment of request 7 from 1000", s)
	}
}

// guest.Block from a goroutine the SDK cannot place (id 0) belongs to the
// request running; a handler that computes mostly in its own code holds the
// loop "in the handler" (where filled in by the SDK).
func TestUnplacedSpanAndHandlerWhere(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollExit(0)
	tl.Begin(1, 0)
	tl.SpanBegin(0, Block, "main.go:12", 10)
	tl.SpanEnd(0, 60)
	p := end(t, tl, 1, 61)
	if p.Block != 50 || p.HoldWhere != "main.go:12" {
		t.Errorf("block %d at %q, want 50 at main.go:12", p.Block, p.HoldWhere)
	}
	tl.Begin(2, 100)
	tl.SpanBegin(2, Compute, "main.go:40", 101)
	tl.SpanEnd(2, 102)
	p2 := end(t, tl, 2, 1100) // a plain CPU loop after a 1-ns Compute
	if p2.HoldWhere != "" {
		t.Errorf("hold of a mostly-handler stretch named %q, want the handler's (empty until SetWhere)", p2.HoldWhere)
	}
	tl.SetWhere(2, "main.go:38", &p2)
	tl.PollEnter(1200)
	if p2.HoldWhere != "main.go:38" {
		t.Errorf("SetWhere: %q", p2.HoldWhere)
	}
	segs := rec.passes[0].Segs
	if last := segs[len(segs)-1]; last.Req != 2 || last.Where != "main.go:38" || last.Kind != Run {
		t.Errorf("last segment %+v, want request 2's handler code at main.go:38", last)
	}
}

// Another request's mark while one runs means the runner parked and the
// marker resumed: the stretch goes to the marker, and the two never overlap.
func TestSwitchGoesToTheMarker(t *testing.T) {
	tl, rec := newRecorded()
	tl.PollExit(0)
	tl.Begin(1, 0)
	tl.Begin(2, 10)
	tl.PollEnter(20)
	tl.PollExit(100)
	tl.SpanBegin(1, Compute, "a.go:1", 110) // 1 resumed at 100
	// 1 parks without a mark (say, on a channel); 2 resumes and returns.
	p2 := end(t, tl, 2, 300)
	p1 := end(t, tl, 1, 310)
	tl.PollEnter(320)
	if p2.Run != 10+190 {
		t.Errorf("request 2 ran %d, want 200", p2.Run)
	}
	if p1.Run != 10+10+10 || p1.Compute != 0 {
		t.Errorf("request 1: run %d compute %d, want 30 and 0", p1.Run, p1.Compute)
	}
	checkDisjoint(t, rec.passes)
}

func TestEndOfUnknownRequest(t *testing.T) {
	tl := New()
	tl.PollExit(0)
	if _, ok := tl.End(9, 5); ok {
		t.Error("End of a request that never began reported ok")
	}
}

// A pass that holds the loop for long is reported in chunks as its
// segments close, so a loop held for seconds is seen while it is held; the
// chunks add up to the pass.
func TestLongPassComesInChunks(t *testing.T) {
	var chunks []Pass
	tl := New()
	tl.OnPass = func(p *Pass) {
		c := *p
		c.Segs = append([]Segment(nil), p.Segs...)
		chunks = append(chunks, c)
	}
	tl.PollExit(0)
	const hold = int64(200e6)
	at := int64(1000)
	for id := uint32(1); id <= 3; id++ {
		tl.Begin(id, at)
		tl.SpanBegin(id, Compute, "main.go:22", at+1)
		tl.SpanEnd(id, at+hold)
		p := end(t, tl, id, at+hold+1)
		tl.SetWhere(id, "main.go:17", &p) // named before it is reported
		at += hold + 10
	}
	if len(chunks) != 2 {
		t.Fatalf("%d chunks before the pass ended, want 2 (requests 1 and 2, reported at the next Begin)", len(chunks))
	}
	tl.PollEnter(at)
	if len(chunks) != 3 || !chunks[2].Final || chunks[0].Final {
		t.Fatalf("chunks %+v: want 3, the last one final", chunks)
	}
	var segs []Segment
	for i, c := range chunks {
		if c.Start != 0 {
			t.Errorf("chunk %d has start %d, want the pass's", i, c.Start)
		}
		segs = append(segs, c.Segs...)
	}
	if len(segs) != 3 || chunks[2].Dur != at {
		t.Fatalf("segments %+v over %d ns, want 3 over %d", segs, chunks[2].Dur, at)
	}
	for i, s := range segs {
		if s.Req != uint32(i+1) || s.Where != "main.go:22" {
			t.Errorf("segment %d: %+v", i, s)
		}
	}
}

// Holder follows the marks: the request that began or marked a span last,
// none after its return or while the guest waits.
func TestHolder(t *testing.T) {
	tl := New()
	check := func(what string, want uint32) {
		t.Helper()
		if got := tl.Holder(); got != want {
			t.Errorf("%s: Holder %d, want %d", what, got, want)
		}
	}
	tl.PollExit(0)
	check("a pass, no request yet", 0)
	tl.Begin(5, 10)
	check("5 began", 5)
	tl.Begin(6, 20)
	check("6 began", 6)
	tl.SpanBegin(5, Compute, "main.go:9", 30) // 5 resumed and computes
	check("5 in guest.Compute", 5)
	tl.SpanEnd(0, 40) // 0: the one running
	check("5 left guest.Compute", 5)
	tl.End(5, 50)
	check("5 returned", 0)
	tl.SpanBegin(6, Block, "main.go:12", 60)
	check("6 in guest.Block", 6)
	tl.PollEnter(70)
	check("the guest waits", 0)
	tl.PollExit(80)
	check("a new pass, nobody marked", 0)
}
