package models

import (
	"slices"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// LoopLag summarises the reactor's loop lag over a recent window, measured
// the way Node's monitorEventLoopDelay does: a 10 ms timer in the guest,
// lag = interval between firings − 10 ms.
type LoopLag struct {
	Samples     int
	P50, P99    time.Duration
	Max         time.Duration
	Utilisation float64 // share of time the loop was not idle in poll_oneoff (0..1; LoopBusy)
}

// LoopLag returns the lag of every loop over the last window (needs
// Config.Trace; zero without samples).
func (s *Supervisor) LoopLag(window time.Duration) LoopLag {
	return s.lag.summary(time.Now().Add(-window))
}

// LoopBusy is the one formula for a loop's utilisation (its busy share),
// used by /server-status and the playground alike: each lag event's
// utilisation weighted by the time it covers, from the same loop's
// previous lag event (a first event covers traceInterval, the interval
// the worker sends them at). So a loop that reported late, after a long
// hold, counts for as long as it held, not as one batch among many.
//
// The zero value is ready; it is not safe for concurrent use.
type LoopBusy struct {
	last       map[int]int64 // process → T of its last lag event
	time, busy float64       // seconds covered, of which busy
}

// Add takes in a lag event (EventLag: Process, T, Value) and returns the
// seconds it covers.
func (b *LoopBusy) Add(e stream.Event) float64 {
	if b.last == nil {
		b.last = map[int]int64{}
	}
	dt := traceInterval.Seconds()
	if last, ok := b.last[e.Process]; ok && e.T > last {
		dt = float64(e.T-last) / 1e9
	}
	b.last[e.Process] = e.T
	b.time += dt
	b.busy += dt * e.Value
	return dt
}

// Share is the busy share of the time covered (0..1), or -1 for none.
func (b *LoopBusy) Share() float64 {
	if b.time <= 0 {
		return -1
	}
	return b.busy / b.time
}

// Reset starts a new window; the loops' last event times are kept, so the
// next events still cover the time since them.
func (b *LoopBusy) Reset() { b.time, b.busy = 0, 0 }

// lagWindow keeps the last lagKeep of lag samples.
type lagWindow struct {
	mu      sync.Mutex
	batches []lagBatch
	busy    LoopBusy // the loops' last event times, for each batch's cover
}

type lagBatch struct {
	at      time.Time
	samples []int64
	util    float64 // the loop's busy share over cover
	cover   float64 // seconds the batch covers (LoopBusy.Add)
}

const lagKeep = 30 * time.Second

func (w *lagWindow) add(at time.Time, e stream.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cover := w.busy.Add(e)
	w.batches = append(w.batches, lagBatch{at, e.Samples, e.Value, cover})
	i := 0
	for i < len(w.batches) && at.Sub(w.batches[i].at) > lagKeep {
		i++
	}
	w.batches = w.batches[i:]
}

func (w *lagWindow) summary(since time.Time) LoopLag {
	w.mu.Lock()
	defer w.mu.Unlock()
	var all []int64
	var cover, busy float64
	for _, b := range w.batches {
		if b.at.Before(since) {
			continue
		}
		all = append(all, b.samples...)
		cover += b.cover
		busy += b.cover * b.util
	}
	if len(all) == 0 {
		return LoopLag{}
	}
	slices.Sort(all)
	at := func(q float64) time.Duration { return time.Duration(experiment.Percentile(all, q)) }
	return LoopLag{Samples: len(all), P50: at(0.50), P99: at(0.99), Max: time.Duration(all[len(all)-1]), Utilisation: busy / cover}
}
