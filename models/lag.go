package models

import (
	"slices"
	"sync"
	"time"
)

// LoopLag summarises the reactor's loop lag over a recent window, measured
// the way Node's monitorEventLoopDelay does: a 10 ms timer in the guest,
// lag = interval between firings − 10 ms.
type LoopLag struct {
	Samples     int
	P50, P99    time.Duration
	Max         time.Duration
	Utilisation float64 // share of time the loop was not idle in poll_oneoff (0..1)
}

// LoopLag returns the lag of every loop over the last window (needs
// Config.Trace; zero without samples).
func (s *Supervisor) LoopLag(window time.Duration) LoopLag {
	return s.lag.summary(time.Now().Add(-window))
}

// lagWindow keeps the last lagKeep of lag samples.
type lagWindow struct {
	mu      sync.Mutex
	batches []lagBatch
}

type lagBatch struct {
	at      time.Time
	samples []int64
	util    float64
}

const lagKeep = 30 * time.Second

func (w *lagWindow) add(at time.Time, samples []int64, util float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, lagBatch{at, samples, util})
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
	var util float64
	n := 0
	for _, b := range w.batches {
		if b.at.Before(since) {
			continue
		}
		all = append(all, b.samples...)
		util += b.util
		n++
	}
	if len(all) == 0 {
		return LoopLag{}
	}
	slices.Sort(all)
	at := func(q float64) time.Duration { return time.Duration(all[min(len(all)-1, int(q*float64(len(all))))]) }
	return LoopLag{Samples: len(all), P50: at(0.50), P99: at(0.99), Max: time.Duration(all[len(all)-1]), Utilisation: util / float64(n)}
}
