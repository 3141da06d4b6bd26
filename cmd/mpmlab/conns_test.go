package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Long-lived connections and what each holds: the sse example, and the
// memory per open connection that bench and the playground's summaries
// report.

// The kernel counts every connection to the port: the load generator's
// HTTP transport may hold a spare it dialed, hence "about" clients
// (clients/50 above them) where the tests below expect one per client.

// sseLoadFile writes a load of clients that each hold a stream of the sse
// example open for events × everyMS, and returns its path.
func sseLoadFile(t *testing.T, clients, events, everyMS, thinkMS, durationMS int) string {
	t.Helper()
	l := map[string]any{"path": fmt.Sprintf("/?events=%d&every=%d", events, everyMS), "concurrency": clients,
		"think_ms": thinkMS, "duration_ms": durationMS, "keepalive": true}
	data, _ := json.Marshal(l)
	path := filepath.Join(t.TempDir(), "load.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The sse example streams its events under each of the four models, each
// flushed as it comes, and a small load of concurrent streams is answered
// in full.
func TestSSEExampleAllModels(t *testing.T) {
	for _, m := range models.Models {
		t.Run(string(m), func(t *testing.T) {
			s := startRun(t, "--model", string(m), "sse")
			resp, err := http.Get(s.URL + "/?events=3&every=50")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
				t.Fatalf("status %d, Content-Type %q, want 200 text/event-stream", resp.StatusCode, ct)
			}
			var data []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					data = append(data, d)
				}
			}
			if want := []string{"event 1 of 3", "event 2 of 3", "event 3 of 3"}; strings.Join(data, "|") != strings.Join(want, "|") {
				t.Fatalf("events %q, want %q", data, want)
			}
			// A small load: as many streams at once as the smallest
			// default pool has lanes (thread: 4), each answered whole.
			for _, r := range getAll(4, s.URL+"/?events=2&every=50") {
				mustOK(t, r)
				if !strings.Contains(r.Body, "data: event 2 of 2\n\n") {
					t.Fatalf("a stream of the load ended early: %q", r.Body)
				}
			}
			if r := get(s.URL + "/?events=0"); r.Status != 400 || !strings.Contains(r.Body, "events=\"0\": want a whole number in 1..60") {
				t.Fatalf("events=0: status %d, body %q; want 400 saying why", r.Status, r.Body)
			}
		})
	}
}

// bench reports the memory per open connection where the workers held
// many (a loop holding 300 streams), and n/a where they held few (a pool
// of 4 threads, the other clients waiting in the accept queue).
func TestBenchMemoryPerConnection(t *testing.T) {
	t.Run("reactor", func(t *testing.T) {
		// Streams of 4 s, longer than the 2 s load: all open when bench
		// samples, at 80% of it.
		const clients = 300
		r := benchJSON(t, "--model", "reactor", "--load", sseLoadFile(t, clients, 8, 500, 1000, 2000), "sse")["reactor"]
		held, before, pss, per := r["conns_held"].(float64), r["pss_before_kb"].(float64), r["pss_kb"].(float64), r["per_conn_kb"].(float64)
		t.Logf("reactor: %v connections held, PSS %v KiB before, %v KiB holding them: %.1f KiB per connection", held, before, pss, per)
		if held < 0.9*clients || held > clients+clients/50 {
			t.Errorf("conns_held %v, want about %d (every client's stream open)", held, clients)
		}
		if before <= 0 || pss <= before {
			t.Errorf("pss_kb %v, pss_before_kb %v: want the PSS measured, and grown by the connections", pss, before)
		}
		if want := (pss - before) / held; per <= 0 || per != want {
			t.Errorf("per_conn_kb %v, want (pss_kb - pss_before_kb) / conns_held = %v", per, want)
		}
	})
	t.Run("thread", func(t *testing.T) {
		const lanes = 4
		r := benchJSON(t, "--model", "thread", "--processes", "1", "--threads-per-child", fmt.Sprint(lanes),
			"--load", sseLoadFile(t, 20, 2, 500, 0, 2000), "sse")["thread"]
		held, per := r["conns_held"].(float64), r["per_conn_kb"].(float64)
		t.Logf("thread 1×%d: %v connections held, per_conn_kb %v", lanes, held, per)
		if held < 1 || held > lanes {
			t.Errorf("conns_held %v, want 1..%d: a thread's lane holds one connection, the rest wait in the accept queue", held, lanes)
		}
		if per != -1 {
			t.Errorf("per_conn_kb %v over %v connections, want -1 (n/a: fewer than %d)", per, held, stream.MinConnsPerConn)
		}
	})
}

// The playground's summary carries the workers' PSS and the memory per
// open connection, and its stats the PSS and the connections held, for a
// run of the sse example holding 300 streams on one loop.
func TestServeMemoryPerConnection(t *testing.T) {
	s := startServe(t, "")
	e := s.exampleExperiment(t, "sse")
	e.Model = "reactor"
	const clients = 300
	e.Load.Concurrency, e.Load.ThinkMS, e.Load.DurationMS, e.Load.Path = clients, 1000, 2000, "/?events=8&every=500"
	st := s.openEvents(t, s.startRunAPI(t, e, "t-conns"))
	defer st.close()
	_, seen := st.until(t, 2*time.Minute, "done")
	var res *stream.Result
	maxHeld, maxPSS := 0, 0
	for _, ev := range seen {
		switch ev.Event {
		case "summary":
			res = new(stream.Result)
			if err := json.Unmarshal(ev.Data, res); err != nil {
				t.Fatal(err)
			}
		case "stats":
			var s stream.Stats
			if err := json.Unmarshal(ev.Data, &s); err != nil {
				t.Fatal(err)
			}
			maxHeld, maxPSS = max(maxHeld, s.Held), max(maxPSS, s.PSSKB)
		}
	}
	if res == nil {
		t.Fatalf("no summary: %s", eventNames(seen))
	}
	t.Logf("reactor: %d connections held, PSS %d KiB before, %d KiB holding them: %.1f KiB per connection; stats: held up to %d, PSS up to %d KiB",
		res.ConnsHeld, res.PSSBeforeKB, res.PSSKB, res.PerConnKB, maxHeld, maxPSS)
	if res.ConnsHeld < 0.9*clients || res.ConnsHeld > clients+clients/50 || res.ConnsHeld != maxHeld {
		t.Errorf("conns_held %d, want about %d, the most a stats tick saw (%d)", res.ConnsHeld, clients, maxHeld)
	}
	if res.PSSBeforeKB <= 0 || res.PSSKB <= res.PSSBeforeKB || maxPSS <= 0 {
		t.Errorf("pss_kb %d, pss_before_kb %d, stats' pss_kb up to %d: want the PSS measured, and grown by the connections", res.PSSKB, res.PSSBeforeKB, maxPSS)
	}
	if res.PerConnKB <= 0 || res.PerConnKB != stream.PerConnKB(res.PSSBeforeKB, res.PSSKB, res.ConnsHeld) {
		t.Errorf("per_conn_kb %v, want stream.PerConnKB(%d, %d, %d) > 0", res.PerConnKB, res.PSSBeforeKB, res.PSSKB, res.ConnsHeld)
	}
	if res.Summary == nil || res.Summary.Errors > 0 {
		t.Errorf("the load's summary %+v: want every stream answered", res.Summary)
	}
}
