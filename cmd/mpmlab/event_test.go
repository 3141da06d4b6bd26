package main

import (
	"context"
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
// the listener holds the thinking clients' connections, so the same 8
// threads serve them all. Apache 2.4 itself differs about twelvefold here.
func TestEventServesThinkingClients(t *testing.T) {
	served := map[string]int{}
	for _, model := range []string{"thread", "event"} {
		s := startRun(t, "--model", model, "--processes", "2", "--threads-per-child", "4", "blocking")
		sum, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: s.URL + "/", Concurrency: 100, Think: time.Second, Duration: 4 * time.Second,
			Timeout: 2 * time.Second, KeepAlive: true,
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		served[model] = sum.Succeeded
		t.Logf("%s: %d of %d requests answered in %v (%.1f req/s), errors %v", model, sum.Succeeded, sum.Requests, sum.Duration.Round(time.Millisecond), sum.RPS, sum.ErrorKinds)
		s.Stop()
	}
	if served["thread"] == 0 {
		served["thread"] = 1 // any answer at all from event is then "many times"
	}
	if ratio := float64(served["event"]) / float64(served["thread"]); ratio < 5 {
		t.Errorf("event answered %d requests, thread %d: %.1f×, want at least 5×", served["event"], served["thread"], ratio)
	}
}
