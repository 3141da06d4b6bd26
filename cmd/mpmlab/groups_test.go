package main

import (
	"os"
	"path/filepath"
	"testing"
)

// bench --load runs a load of groups and reports each group: under one
// reactor loop the fast group's requests wait behind the slow group's
// holds of the loop, under threads they do not.
func TestBenchLoadGroups(t *testing.T) {
	file := filepath.Join(t.TempDir(), "load.json")
	// Open-loop fast requests: each due while the loop is held counts its
	// wait (a closed loop would send few during a hold).
	err := os.WriteFile(file, []byte(`{"groups": [
		{"name": "fast", "path": "/hello", "rate": 100, "concurrency": 50},
		{"name": "slow", "path": "/?ms=150", "rate": 4, "concurrency": 2}],
		"duration_ms": 3000}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	groupsOf := func(r map[string]any) map[string]map[string]any {
		gs, ok := r["groups"].([]any)
		if !ok || len(gs) != 2 {
			t.Fatalf("%s: groups = %v, want fast and slow", r["model"], r["groups"])
		}
		out := map[string]map[string]any{}
		total := 0.0
		for _, g := range gs {
			g := g.(map[string]any)
			out[g["name"].(string)] = g
			total += g["summary"].(map[string]any)["requests"].(float64)
		}
		if whole := r["summary"].(map[string]any)["requests"].(float64); whole != total {
			t.Errorf("%s: the groups sent %v requests, the whole load %v", r["model"], total, whole)
		}
		return out
	}
	serverQ := func(g map[string]any, phase, q string) float64 {
		s, ok := g["server"].(map[string]any)
		if !ok {
			t.Fatalf("group %s has no server phases: %v", g["name"], g)
		}
		return s[phase].(map[string]any)[q].(float64)
	}
	server := func(g map[string]any, phase string) float64 { return serverQ(g, phase, "p99_ns") }

	reactor := groupsOf(benchJSON(t, "--model", "reactor", "--loops", "1", "--load", file, "cpu")["reactor"])
	slowRun := server(reactor["slow"], "service")
	if slowRun < 100e6 {
		t.Fatalf("reactor: slow group's service p99 %.0f ms, want about 150 (it computes 150 ms)", slowRun/1e6)
	}
	if w := server(reactor["fast"], "wait"); w < slowRun/2 {
		t.Errorf("reactor: fast group waited p99 %.1f ms in the server; behind 150 ms holds of its one loop it should wait at least %.0f ms", w/1e6, slowRun/2e6)
	}
	hold := reactor["slow"]["server"].(map[string]any)["longest_hold"].(map[string]any)
	if hold["group"] != "slow" || hold["path"] != "/?ms=150" || hold["where"] == "" {
		t.Errorf("reactor: slow group's longest hold = %v, want group slow, path /?ms=150, a source line", hold)
	}

	thread := groupsOf(benchJSON(t, "--model", "thread", "--processes", "1", "--threads-per-child", "16", "--load", file, "cpu")["thread"])
	// The median: a busy machine's run queue adds tens of milliseconds to
	// a thread's tail, which is not the model's doing.
	if w, s := serverQ(thread["fast"], "wait", "p50_ns"), server(thread["slow"], "service"); w > s/4 {
		t.Errorf("thread: fast group waited p50 %.1f ms in the server, want far less than the slow group's %.0f ms run: each request has a thread", w/1e6, s/1e6)
	}
}
