package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

// Apache's event MPM against its worker MPM, on the same pool (2 processes
// × 4 threads) and the load that tells them apart: 100 keep-alive clients
// that think 1 s between requests to a handler that blocks 50 ms. Under
// the worker MPM every connection pins a thread while its client thinks,
// so 8 clients hold all 8 threads and the rest wait in the listen
// backlog; under event a thread serves a request, not a connection, and
// the listener holds the thinking clients' connections (and closes them
// when it runs out of threads, so that every client gets its turn), so the
// same 8 threads serve them all. Apache 2.4 itself, at its defaults,
// differs about sevenfold here (validate/README.md).
func TestEventServesThinkingClients(t *testing.T) {
	served := map[string]int{}
	const load = 4 * time.Second
	for _, model := range []string{"thread", "event"} {
		s := startRun(t, "--model", model, "--processes", "2", "--threads-per-child", "4", "blocking")
		// Count what was answered while the load ran: once the clients
		// stop, the connections they pinned close and the requests left
		// waiting in the backlog are served at once, after the fact.
		var mu sync.Mutex
		var within int
		start := time.Now()
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.URL + "/", Concurrency: 100, Think: time.Second, Duration: load,
			// Clients wait for an answer, as Apache's clients would: one that
			// gave up would close its connection and free a pinned thread.
			Timeout: 8 * time.Second, KeepAlive: true,
			OnResult: func(r loadgen.Result) {
				if r.Err == nil && r.Status == 200 && r.Start.Add(r.Latency).Sub(start) <= load {
					mu.Lock()
					within++
					mu.Unlock()
				}
			},
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		served[model] = within
		t.Logf("%s: %d requests answered within the %v load (%d in all by %v; p99 %v)", model, within, load, sum.Succeeded, sum.Duration.Round(time.Millisecond), sum.Latency.P99.Round(time.Millisecond))
		s.Stop()
	}
	if served["thread"] == 0 {
		served["thread"] = 1 // any answer at all from event is then "many times"
	}
	if ratio := float64(served["event"]) / float64(served["thread"]); ratio < 5 {
		t.Errorf("within the load, event answered %d requests, thread %d: %.1f×, want at least 5×", served["event"], served["thread"], ratio)
	}
}
