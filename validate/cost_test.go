package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/models"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 150, stime 50,
	// cutime 30, cstime 20 ticks: 2.5 s.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 30 20 20 0 9 0 100 2998272 392 18446744073709551615\n"
	got, err := parseStatCPU(line)
	if err != nil || got != 2500*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 2.5s", got, err)
	}
	for _, bad := range []string{
		"",
		"4242 name S 1 2 3",
		"4242 (name) S 1 4242 4242 0 -1 4194560 500 0 0 0 150",
		"4242 (name) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 x 30 20",
	} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

func TestParseSmapsRollup(t *testing.T) {
	text := `55cb3d55c000-7fff0ce7e000 ---p 00000000 00:00 0                          [rollup]
Rss:                1784 kB
Pss:                 198 kB
Pss_Dirty:           112 kB
Pss_Anon:            112 kB
Shared_Clean:       1632 kB
SwapPss:               0 kB
`
	got, err := parseSmapsRollup(text)
	if err != nil || got != (memKB{RSS: 1784, PSS: 198}) {
		t.Errorf("parseSmapsRollup = %+v, %v; want RSS 1784, PSS 198", got, err)
	}
	for _, bad := range []string{"", "Rss: 12 kB\n", "Rss: 12 kB\nPss: many kB\n"} {
		if _, err := parseSmapsRollup(bad); err == nil {
			t.Errorf("parseSmapsRollup(%q): no error", bad)
		}
	}
}

// The readers on this very process: it is its own tree's root, has used
// some CPU and holds some memory.
func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no /proc/PID/smaps_rollup (Linux 4.14 or later):", err)
	}
	pid := os.Getpid()
	if pids := tree(pid); len(pids) == 0 || pids[0] != pid {
		t.Errorf("tree(%d) = %v", pid, pids)
	}
	if cpu, err := treeCPU(pid); err != nil || cpu < 0 {
		t.Errorf("treeCPU = %v, %v", cpu, err)
	}
	if m, err := treeMemory(pid); err != nil || m.RSS <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Errorf("treeMemory = %+v, %v", m, err)
	}
	if _, _, err := childMemory(pid); err == nil {
		t.Errorf("childMemory of a process without children: no error")
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Errorf("treeCPU of no process: no error")
	}
}

func TestSideArithmetic(t *testing.T) {
	s := sideCost{CPU: 2 * time.Second, Requests: 10_000}
	if got := s.perRequest(); got != 200*time.Microsecond {
		t.Errorf("perRequest = %v, want 200µs", got)
	}
	if got := (&sideCost{CPU: time.Second}).perRequest(); got != 0 {
		t.Errorf("perRequest without requests = %v, want 0", got)
	}
	s = sideCost{IdleBefore: memKB{RSS: 10_000, PSS: 8_000}, IdleAfter: memKB{RSS: 15_000, PSS: 12_000}, IdleOpened: 10_000}
	rss, pss := s.perConnection()
	if rss != 512 || pss != 409.6 {
		t.Errorf("perConnection = %v, %v; want 512, 409.6", rss, pss)
	}
	if rss, pss := (&sideCost{}).perConnection(); rss != 0 || pss != 0 {
		t.Errorf("perConnection without connections = %v, %v", rss, pss)
	}
}

// measures are a run's sides with round figures.
func measures() *costMeasures {
	cpu := func(name string, perReq time.Duration) sideCost {
		return sideCost{Name: name, CPU: perReq * 1000, Requests: 1000}
	}
	m := &costMeasures{
		prefork: cpu("Apache/2.4 prefork", 100*time.Microsecond), process: cpu("mpmlab process", 250*time.Microsecond),
		worker: cpu("Apache/2.4 worker", 100*time.Microsecond), thread: cpu("mpmlab thread", 150*time.Microsecond),
		event: cpu("Apache/2.4 event", 100*time.Microsecond), eventModel: cpu("mpmlab event", 200*time.Microsecond),
		nginx: cpu("nginx/1.22", 10*time.Microsecond), reactor: cpu("mpmlab reactor", 45*time.Microsecond),
		native: sideCost{Name: "native Go net/http", P50: 100 * time.Microsecond, LatencyRequests: 500},
	}
	m.prefork.Child, m.prefork.Children = memKB{RSS: 4 << 10, PSS: 1 << 10}, 8
	m.process.Child, m.process.Children = memKB{RSS: 36 << 10, PSS: 12 << 10}, 8
	m.nginx.IdleBefore, m.nginx.IdleAfter, m.nginx.IdleOpened = memKB{RSS: 10_000, PSS: 9_000}, memKB{RSS: 15_000, PSS: 14_000}, 10_000
	m.reactor.IdleBefore, m.reactor.IdleAfter, m.reactor.IdleOpened = memKB{RSS: 40_000, PSS: 30_000}, memKB{RSS: 240_000, PSS: 230_000}, 10_000
	m.reactor.P50, m.process.P50 = 150*time.Microsecond, 300*time.Microsecond
	return m
}

func TestCostRows(t *testing.T) {
	rows := costRows(measures())
	want := []struct {
		name        string
		real, model float64
		ratio       float64
		met         bool
	}{
		{"cpu-prefork", 100, 250, 2.5, false},
		{"cpu-worker", 100, 150, 1.5, true},
		{"cpu-event", 100, 200, 2, true}, // at the target is within it
		{"cpu-loop", 10, 45, 4.5, false},
		{"memory-process", 1, 12, 12, true}, // PSS 12 MiB: met, whatever the ratio
		{"memory-connection", 512, 20480, 40, false},
		{"p50-reactor", 100, 150, 1.5, true},
		{"p50-process", 100, 300, 3, false},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }
	for i, w := range want {
		r := rows[i]
		if r.Name != w.name || !near(r.RealValue, w.real) || !near(r.ModelValue, w.model) || !near(r.Ratio, w.ratio) || r.Met != w.met {
			t.Errorf("row %d = %s %v/%v ratio %v met %v; want %s %v/%v ratio %v met %v",
				i, r.Name, r.RealValue, r.ModelValue, r.Ratio, r.Met, w.name, w.real, w.model, w.ratio, w.met)
		}
		if r.Failed() || r.Target == "" {
			t.Errorf("%s: failed %v, target %q", r.Name, r.Failed(), r.Target)
		}
	}
}

// A real server not installed leaves its rows without a ratio or a
// verdict, except the one whose target is the model's own figure; a side
// that could not be measured fails its rows.
func TestCostRowsSkippedAndError(t *testing.T) {
	m := measures()
	m.prefork = sideCost{Name: "apache prefork", Skipped: "apache2 not found: install the Debian packages apache2"}
	m.reactor.Error = "mpmlab reactor: starting: boom"
	byName := map[string]CostRow{}
	for _, r := range costRows(m) {
		byName[r.Name] = r
	}
	if r := byName["cpu-prefork"]; r.Skipped == "" || r.Met || r.Failed() || r.verdict() != "skipped" {
		t.Errorf("cpu-prefork without Apache: %+v, verdict %q", r, r.verdict())
	}
	if r := byName["memory-process"]; r.Skipped == "" || !r.Met || r.verdict() != "met" {
		t.Errorf("memory-process without Apache: %+v, verdict %q", r, r.verdict())
	}
	for _, name := range []string{"cpu-loop", "memory-connection", "p50-reactor"} {
		if r := byName[name]; !r.Failed() || r.Met || !strings.Contains(r.Error, "boom") || r.verdict() != "error" {
			t.Errorf("%s with the reactor failed: %+v", name, r)
		}
	}
	if r := byName["p50-process"]; r.Failed() || r.Skipped != "" {
		t.Errorf("p50-process: %+v", r)
	}
}

func TestWriteCost(t *testing.T) {
	m := measures()
	m.worker = sideCost{Name: "apache worker", Skipped: "apache2 not found: install the Debian packages apache2"}
	m.thread.Error = "mpmlab thread: starting: boom"
	rows := costRows(m)
	var b bytes.Buffer
	if err := WriteCostText(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cost ", "real server", "ratio", "target", "met\n",
		"CPU per request, prefork (8 processes)", "Apache prefork 100.0 µs",
		"process 250.0 µs", "2.50×", "≤ 2× Apache", "not met\n",
		"CPU per request, one loop", "nginx (1 worker) 10.0 µs", "≤ 4× nginx",
		"Apache child RSS 4.0 MiB, PSS 1.0 MiB", "process worker RSS 36.0 MiB, PSS 12.0 MiB", "PSS ≤ 12 MiB",
		"nginx 512 B (10000 connections: RSS +5.1 MB; PSS 512 B each)", "40.00×",
		"p50 at one client (1 keep-alive client), reactor", "native Go net/http 100.0 µs", "1.50×", "≤ 2× native",
		"real servers: Apache/2.4 prefork; Apache/2.4 event; nginx/1.22; native Go net/http\n",
		"cpu-worker: requests answered", "real side skipped: apache2 not found", "error: mpmlab thread: starting: boom",
		"informational",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "CPU per request, worker") && !(strings.Contains(line, "Apache worker -") && strings.Contains(line, "thread -")) {
			t.Errorf("a row that could not be measured shows figures: %q", line)
		}
	}

	b.Reset()
	if err := WriteCostJSON(&b, rows); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cost []map[string]any `json:"cost"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if len(got.Cost) != len(rows) {
		t.Fatalf("%d rows in JSON, want %d", len(got.Cost), len(rows))
	}
	first := got.Cost[0]
	for k, v := range map[string]any{"name": "cpu-prefork", "unit": "µs", "real_value": 100.0, "model_value": 250.0,
		"ratio": 2.5, "met": false, "target": "≤ 2× Apache", "real": "Apache/2.4 prefork", "model": "mpmlab process"} {
		if first[k] != v {
			t.Errorf("JSON %s = %v, want %v", k, first[k], v)
		}
	}
	if got.Cost[1]["skipped"] == nil || got.Cost[1]["error"] == nil {
		t.Errorf("JSON of the worker row lacks skipped or error: %v", got.Cost[1])
	}
}

// openIdle leaves every connection open after its answer, and fails when
// the server closes them.
func TestOpenIdle(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte("hello\n"))
	}))
	defer srv.Close()
	conns, err := openIdle(context.Background(), srv.URL+"/", 100)
	if err != nil || len(conns) != 100 || served.Load() != 100 {
		t.Fatalf("openIdle: %d connections, %d served, %v", len(conns), served.Load(), err)
	}
	for _, c := range conns {
		c.Close()
	}

	closing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye\n"))
	}))
	defer closing.Close()
	conns, err = openIdle(context.Background(), closing.URL+"/", 10)
	if err == nil || len(conns) != 0 || !strings.Contains(err.Error(), "10 of 10") {
		t.Errorf("openIdle on a server that closes: %d connections, %v", len(conns), err)
	}
}

func TestRaiseNoFile(t *testing.T) {
	if n, _ := models.RaiseNoFile(16, fdMargin); n != 16 {
		t.Errorf("RaiseNoFile(16) = %d", n)
	}
}
