package models

import (
	"sync"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of the loop's pass trace.
const (
	// passSegMin is the shortest request segment a merged pass keeps.
	passSegMin = 100_000 // ns
	// passMergeGap is the widest gap between two short passes that merge.
	passMergeGap = 1_000_000 // ns
	// passShort is the longest pass that merges with its neighbours when
	// none of its segments is passSegMin or longer.
	passShort = 1_000_000 // ns
	// maxPassesPerBatch caps one pass event; past it passes are counted as
	// dropped.
	maxPassesPerBatch = 2000
)

// passBatcher gathers a reactor loop's passes between two pass events.
// add runs on the guest's goroutine (runtime.InstanceConfig.OnPass) and
// only copies; take runs on the worker's trace ticker.
//
// A loop serving small requests makes tens of thousands of passes a second,
// each far shorter than a pixel of the live view. Short passes without a
// long segment are merged into one busy stretch (see Pass), so a batch
// stays small while the picture keeps every stretch a person can see and
// every request that held the loop for 100 µs or more.
type passBatcher struct {
	mu      sync.Mutex
	passes  []stream.Pass
	dropped int
}

func (b *passBatcher) add(p *runtime.Pass) {
	end := p.Start + p.Dur
	long := p.Dur > passShort || !p.Final // a pass reported in chunks is long
	for _, s := range p.Segs {
		long = long || s.Dur >= passSegMin
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.passes); n > 0 && b.passes[n-1].T == p.Start && b.passes[n-1].N == 0 {
		// The next chunk of a long pass: it grows.
		last := &b.passes[n-1]
		last.Dur = p.Dur
		last.Segs = appendSegs(last.Segs, p.Segs, true)
		return
	}
	if n := len(b.passes); !long && n > 0 {
		last := &b.passes[n-1]
		if last.N > 0 && p.Start-(last.T+last.Dur) < passMergeGap {
			last.Dur = end - last.T
			last.Busy += p.Dur
			last.N++
			return
		}
	}
	if len(b.passes) >= maxPassesPerBatch {
		b.dropped++
		return
	}
	out := stream.Pass{T: p.Start, Dur: p.Dur}
	if !long {
		out.Busy, out.N = p.Dur, 1 // may merge with the next
	}
	out.Segs = appendSegs(nil, p.Segs, long)
	b.passes = append(b.passes, out)
}

// appendSegs appends segs to dst as trace segments, all of them or (for a
// short pass) those of passSegMin or longer.
func appendSegs(dst []stream.PassSeg, segs []runtime.Segment, all bool) []stream.PassSeg {
	for _, s := range segs {
		if !all && s.Dur < passSegMin {
			continue
		}
		kind := s.Kind.String()
		if kind == "run" {
			kind = ""
		}
		dst = append(dst, stream.PassSeg{Req: uint64(s.Req), T: s.Start, Dur: s.Dur, Kind: kind, Where: s.Where})
	}
	return dst
}

// take returns the passes gathered since the last take, and how many were
// dropped.
func (b *passBatcher) take() ([]stream.Pass, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, d := b.passes, b.dropped
	b.passes, b.dropped = nil, 0
	for i := range p {
		if p[i].N == 1 {
			p[i].Busy, p[i].N = 0, 0 // a single pass: Busy is Dur
		}
	}
	return p, d
}
