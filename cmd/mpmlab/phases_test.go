package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// serverPhases reads a bench result's "server" object.
func serverPhases(t *testing.T, r map[string]any) (wait50, service50 float64, hold map[string]any) {
	t.Helper()
	s, ok := r["server"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no server phases in %v", r["model"], r)
	}
	wait50 = s["wait"].(map[string]any)["p50_ns"].(float64)
	service50 = s["service"].(map[string]any)["p50_ns"].(float64)
	hold, _ = s["longest_hold"].(map[string]any)
	return
}

// The workers measure where a request's time goes: under the reactor a
// CPU-bound request waits for the loop far longer than it runs, and the
// longest hold is named with its request and its line; under threads a
// request runs as soon as its thread has it.
func TestBenchServerPhases(t *testing.T) {
	where := regexp.MustCompile(`^main\.go:\d+$`)
	t.Run("reactor", func(t *testing.T) {
		r := benchJSON(t, "--model", "reactor", "--concurrency", "10", "--requests", "40", "--path", "/?ms=200", "cpu")["reactor"]
		wait, service, hold := serverPhases(t, r)
		if wait < 3*service {
			t.Errorf("wait p50 %v < 3 × service p50 %v: requests did not queue for the loop", time.Duration(wait), time.Duration(service))
		}
		if service < 150e6 || service > 400e6 {
			t.Errorf("service p50 %v, want 150..400 ms (a 200 ms compute)", time.Duration(service))
		}
		if hold == nil {
			t.Fatal("no longest_hold for the reactor")
		}
		if ns := hold["ns"].(float64); ns < 150e6 {
			t.Errorf("longest hold %v, want ≥ 150 ms", time.Duration(ns))
		}
		if p, _ := hold["path"].(string); !strings.Contains(p, "ms=200") {
			t.Errorf("longest hold's path %q, want the request's URI", p)
		}
		if w, _ := hold["where"].(string); !where.MatchString(w) {
			t.Errorf("longest hold's where %q, want main.go:LINE", w)
		}
	})
	t.Run("thread", func(t *testing.T) {
		r := benchJSON(t, "--model", "thread", "--processes", "1", "--threads-per-child", "4", "--concurrency", "4",
			"--requests", "40", "--path", "/?ms=200", "cpu")["thread"]
		wait, service, hold := serverPhases(t, r)
		if wait > service/4 {
			t.Errorf("wait p50 %v > service p50 %v / 4: a thread's request should run at once", time.Duration(wait), time.Duration(service))
		}
		if hold != nil {
			t.Errorf("longest_hold %v for threads: only loops have one", hold)
		}
	})
}

// traceEvent is the part of a trace event these tests read.
type traceEvent struct {
	V       int           `json:"v"`
	Kind    string        `json:"kind"`
	Req     uint64        `json:"req"`
	Path    string        `json:"path"`
	Wait    int64         `json:"wait"`
	Service int64         `json:"service"`
	Run     int64         `json:"run"`
	Hold    int64         `json:"hold"`
	Where   string        `json:"where"`
	Passes  []stream.Pass `json:"passes"`
	Writing int           `json:"writing"`
}

func readTrace(t *testing.T, file string) []traceEvent {
	b, _ := os.ReadFile(file)
	var out []traceEvent
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e traceEvent
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// The trace shows the loop one request at a time: pass events whose
// segments never overlap, each long one a CPU-bound request at its
// guest.Compute line; req_end events carry the phases.
func TestRunTraceLoopPasses(t *testing.T) {
	file := t.TempDir() + "/events.jsonl"
	s := startRun(t, "--model", "reactor", "--trace", file, "cpu")
	mustOK(t, getAll(3, s.URL+"/?ms=100")...)
	var events []traceEvent
	var segs []stream.PassSeg
	waitFor(t, 10*time.Second, "three 100 ms segments in pass events", func() bool {
		events, segs = readTrace(t, file), nil
		long := 0
		for _, e := range events {
			for _, p := range e.Passes {
				for _, sg := range p.Segs {
					segs = append(segs, sg)
					if sg.Dur >= 100e6 {
						long++
					}
				}
			}
		}
		return long >= 3
	})
	sort.Slice(segs, func(i, j int) bool { return segs[i].T < segs[j].T })
	for i := 1; i < len(segs); i++ {
		if segs[i].T < segs[i-1].T+segs[i-1].Dur {
			t.Fatalf("segments %+v and %+v overlap: two requests held the loop at once", segs[i-1], segs[i])
		}
	}
	ends := map[uint64]traceEvent{}
	for _, e := range events {
		if e.Kind == "req_end" {
			ends[e.Req] = e
		}
	}
	for _, sg := range segs {
		if sg.Dur < 100e6 {
			continue
		}
		if sg.Kind != "compute" || !strings.HasPrefix(sg.Where, "main.go:") {
			t.Errorf("segment %+v: want compute at main.go:LINE", sg)
		}
		e, ok := ends[sg.Req]
		if !ok {
			t.Errorf("segment of request %d, which has no req_end", sg.Req)
			continue
		}
		if e.Path != "/?ms=100" || e.Hold < 100e6 || e.Service < e.Run || e.Run < e.Hold || e.Where != sg.Where {
			t.Errorf("req_end %+v does not match its segment %+v", e, sg)
		}
	}
}

// bench reports the server's CPU time per request from the kernel's
// accounting, for each model and for the native baseline, and the ratio of
// the two. A handler that computes 20 ms per request, one request at a
// time, must cost the server about that: at most its wall time (the loop is
// one thread), and far more than nothing even on a machine busy with other
// work.
func TestBenchCPUPerRequest(t *testing.T) {
	r := benchJSON(t, "--baseline", "--model", "reactor", "--concurrency", "1", "--requests", "15", "--path", "/?ms=20", "cpu")
	for _, m := range []string{"native", "reactor"} {
		cpu, _ := r[m]["cpu_per_request_ns"].(float64)
		lat := r[m]["summary"].(map[string]any)["latency"].(map[string]any)
		mean, _ := lat["mean_ns"].(float64)
		t.Logf("%s: CPU %v per request, mean latency %v", m, time.Duration(cpu), time.Duration(mean))
		if cpu < 2e6 || cpu > 1.5*mean+2e6 {
			t.Errorf("%s: CPU per request %v, want between 2 ms and its mean latency %v (a 20 ms compute, one at a time)", m, time.Duration(cpu), time.Duration(mean))
		}
	}
	if ratio, _ := r["reactor"]["cpu_ratio"].(float64); ratio < 0.2 || ratio > 5 {
		t.Errorf("reactor cpu_ratio %v, want about 1 for a compute-bound handler", ratio)
	}
}
