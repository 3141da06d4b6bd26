package models

import (
	"math"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// A loop's busy share weights each lag event by the time it covers: a
// loop held 900 ms reports once, late, and counts for those 900 ms, not
// as one batch among its idle ones. /server-status (lagWindow) and the
// playground (LoopBusy) give the same figure for the same events.
func TestLoopBusyWeightsByTime(t *testing.T) {
	ms := int64(time.Millisecond)
	events := []stream.Event{
		{Kind: stream.EventLag, Process: 0, T: 100 * ms, Value: 0},
		{Kind: stream.EventLag, Process: 0, T: 200 * ms, Value: 0},
		{Kind: stream.EventLag, Process: 0, T: 1100 * ms, Value: 1}, // held 900 ms
		{Kind: stream.EventLag, Process: 0, T: 1200 * ms, Value: 0},
		{Kind: stream.EventLag, Process: 1, T: 150 * ms, Value: 0.5}, // another loop
	}
	var b LoopBusy
	var w lagWindow
	now := time.Now()
	for _, e := range events {
		b.Add(e)
		e.Samples = []int64{1}
		w.add(now, e)
	}
	// Covered: 100+100+900+100 ms of loop 0, 100 ms (a first event) of
	// loop 1; busy: 900 + 50.
	want := 0.950 / 1.300
	if got := b.Share(); math.Abs(got-want) > 1e-9 {
		t.Errorf("LoopBusy share %.4f, want %.4f (a per-event mean would say %.4f)", got, want, 1.5/5)
	}
	if got := w.summary(now.Add(-time.Second)).Utilisation; math.Abs(got-want) > 1e-9 {
		t.Errorf("the scoreboard's utilisation %.4f, want %.4f, as the playground's", got, want)
	}
	b.Reset()
	if got := b.Share(); got != -1 {
		t.Errorf("after Reset, share %v, want -1 (no time covered)", got)
	}
	b.Add(stream.Event{Kind: stream.EventLag, Process: 0, T: 1500 * ms, Value: 1})
	if got := b.Share(); got != 1 {
		t.Errorf("after Reset, an event covering 300 ms busy gives %v, want 1", got)
	}
}
