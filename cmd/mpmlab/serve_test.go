package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// served is a running "mpmlab serve" (the playground), started by
// startServe. The browser tests use it too.
type served struct {
	*mpmlabProcess
	// DataDir is its --data directory (the share store).
	DataDir string
}

var playgroundRE = regexp.MustCompile(`^playground on (http://\S+)$`)

// startServe starts "mpmlab serve --addr 127.0.0.1:0 --data dataDir" (a
// fresh temporary directory if dataDir is "") with the tests' build cache,
// and waits until it prints its URL. Cleanup stops it (see Stop).
func startServe(t *testing.T, dataDir string) *served {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	return &served{startProcess(t, playgroundRE, "serve", "--addr", "127.0.0.1:0", "--data", dataDir), dataDir}
}

// call sends a JSON request (body marshalled unless it is []byte or nil)
// and returns the status and body.
func (s *served) call(t *testing.T, method, path string, body any, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, s.Logs())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

var apiClient = &http.Client{Timeout: 3 * time.Minute}

// wantStatus calls the API and fails unless the status is want; it
// returns the body.
func (s *served) wantStatus(t *testing.T, want int, method, path string, body any, header ...string) []byte {
	t.Helper()
	got, data := s.call(t, method, path, body, header...)
	if got != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, data)
	}
	return data
}

// apiError decodes an error body and checks it says what it must.
func apiError(t *testing.T, data []byte, contains string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q: not {\"error\": ...}", data)
	}
	if !strings.Contains(e.Error, contains) {
		t.Fatalf("error %q does not say %q", e.Error, contains)
	}
}

// example returns the source of a bundled example, as the API gives it.
func (s *served) example(t *testing.T, name string) experiment.Source {
	t.Helper()
	var list []struct {
		Name    string            `json:"name"`
		Summary string            `json:"summary"`
		Source  experiment.Source `json:"source"`
	}
	if err := json.Unmarshal(s.wantStatus(t, 200, "GET", "/api/examples", nil), &list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Name == name {
			return e.Source
		}
	}
	t.Fatalf("no example %q", name)
	return experiment.Source{}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Event string
	Data  json.RawMessage
}

// eventStream is an open event stream of a run.
type eventStream struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
}

// openEvents connects to a run's event stream.
func (s *served) openEvents(t *testing.T, id string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/runs/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("events: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	st := &eventStream{resp: resp, cancel: cancel, events: make(chan sseEvent, 1024)}
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = json.RawMessage(line[len("data: "):])
			case line == "" && ev.Event != "":
				st.events <- ev
				ev = sseEvent{}
			}
		}
	}()
	t.Cleanup(st.close)
	return st
}

func (st *eventStream) close() { st.cancel(); st.resp.Body.Close() }

// until reads events until one named name (returned), failing after d.
func (st *eventStream) until(t *testing.T, d time.Duration, name string) (sseEvent, []sseEvent) {
	t.Helper()
	var seen []sseEvent
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				t.Fatalf("stream ended before %q; saw %s", name, eventNames(seen))
			}
			seen = append(seen, ev)
			if ev.Event == name {
				return ev, seen
			}
		case <-timeout:
			t.Fatalf("no %q event within %v; saw %s", name, d, eventNames(seen))
		}
	}
}

func eventNames(evs []sseEvent) string {
	var names []string
	for _, e := range evs {
		if len(names) == 0 || names[len(names)-1] != e.Event {
			names = append(names, e.Event)
		}
	}
	return strings.Join(names, " ")
}

// startRunAPI creates a run and returns its id.
func (s *served) startRunAPI(t *testing.T, e experiment.Experiment, tab string) string {
	t.Helper()
	var r struct {
		ID string `json:"id"`
	}
	json.Unmarshal(s.wantStatus(t, 202, "POST", "/api/runs", e, "X-Mpmlab-Tab", tab), &r)
	if r.ID == "" {
		t.Fatal("no run id")
	}
	return r.ID
}

// summaryEvent is the data of a "summary" event, as far as the tests look.
type summaryEvent struct {
	Model   string `json:"model"`
	RSSKB   int    `json:"rss_kb"`
	Summary struct {
		Requests    int         `json:"requests"`
		Succeeded   int         `json:"succeeded"`
		StatusCodes map[int]int `json:"status_codes"`
	} `json:"summary"`
	Sentence string `json:"sentence"`
	Workers  int    `json:"workers"`
	Error    string `json:"error"`
}

func TestServeAPIErrors(t *testing.T) {
	t.Parallel()
	s := startServe(t, "")
	hello := s.example(t, "hello")
	good := experiment.Experiment{Source: hello, Model: "reactor", Load: experiment.Load{Requests: 10}}
	big := good
	big.Source = experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n//" + strings.Repeat("x", 70<<10)}}}
	with := func(f func(*experiment.Experiment)) experiment.Experiment {
		e := good
		f(&e)
		return e
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		says               string
	}{
		{"oversized source run", "POST", "/api/runs", big, 413, "the limit is 65536 (64 KiB)"},
		{"oversized source share", "POST", "/api/shares", big, 413, "the limit is 65536 (64 KiB)"},
		{"oversized source build", "POST", "/api/build", map[string]any{"source": big.Source}, 413, "64 KiB"},
		{"huge body", "POST", "/api/runs", bytes.Repeat([]byte(" "), 300<<10), 413, "request body over"},
		{"bad knob", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Knobs.ThreadsPerChild = 1000 }), 400, "knobs.threads_per_child 1000 out of range 1..64"},
		{"bad knob pair", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Knobs.MinSpare, e.Knobs.MaxSpare = 9, 3 }), 400, "knobs.min_spare"},
		{"bad memory", "POST", "/api/shares", with(func(e *experiment.Experiment) { e.Knobs.MemoryLimitMB = 1 }), 400, "knobs.memory_limit_mb"},
		{"too much memory", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Knobs.MemoryLimitMB = 4096 }), 400, "knobs.memory_limit_mb 4096 out of range 16..1024"},
		{"too many instances", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Knobs.Processes, e.Knobs.ThreadsPerChild = 64, 64 }), 400, "knobs.processes 64 × knobs.threads_per_child 64 = 4096 guest instances; the limit is 128"},
		{"bad load path", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Load.Path = "/%zz" }), 400, "load.path"},
		{"bad try path", "POST", "/api/try", map[string]any{"experiment": with(func(*experiment.Experiment) {}), "path": "/\x00"}, 400, "path"},
		{"bad load concurrency", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Load.Concurrency = 20000 }), 400, "load.concurrency 20000 out of range 1..10000"},
		{"unbound load concurrency", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Load.Concurrency, e.Load.Rate, e.Load.ThinkMS = 5000, 0, 0 }), 400,
			"load.concurrency 5000: past 200 clients, a closed loop must bound what its clients send: think_ms at least 1000"},
		{"bad load duration", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Load.DurationMS = 120000 }), 400, "load.duration_ms"},
		{"bad load rate", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Load.Rate, e.Load.Requests = 1, 20000 }), 400, "the limit is 60 s"},
		{"bad model", "POST", "/api/runs", with(func(e *experiment.Experiment) { e.Model = "fork" }), 400, "model"},
		{"malformed JSON", "POST", "/api/runs", []byte(`{"model": "reactor",`), 400, "json"},
		{"not an object", "POST", "/api/shares", []byte(`[1,2]`), 400, "json"},
		{"empty body", "POST", "/api/build", []byte(``), 400, "empty body"},
		{"unknown field", "POST", "/api/runs", []byte(`{"model":"reactor","load":{"concurency":3}}`), 400, `unknown field "concurency"`},
		{"wrong type", "POST", "/api/runs", []byte(`{"knobs":{"loops":"two"}}`), 400, "knobs.loops"},
		{"no files", "POST", "/api/runs", experiment.Experiment{}, 400, "source.files"},
		{"unknown share", "GET", "/api/shares/AAAAAAAAAAA", nil, 404, "no share AAAAAAAAAAA"},
		{"malformed share id", "GET", "/api/shares/..%2f..%2fetc", nil, 404, "no share"},
		{"unknown run events", "GET", "/api/runs/rnope/events", nil, 404, "no run"},
		{"unknown run stop", "POST", "/api/runs/rnope/stop", nil, 404, "no run"},
		{"unknown endpoint", "GET", "/api/nope", nil, 404, "no API endpoint"},
		{"try bad path", "POST", "/api/try", map[string]any{"experiment": good, "path": "nope"}, 400, "path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			apiError(t, s.wantStatus(t, c.status, c.method, c.path, c.body), c.says)
		})
	}
	// The host is still up and serving.
	s.wantStatus(t, 200, "GET", "/api/examples", nil)
}

func TestServeExamplesAndBuild(t *testing.T) {
	s := startServe(t, "")
	var list []struct {
		Name    string            `json:"name"`
		Summary string            `json:"summary"`
		Source  experiment.Source `json:"source"`
	}
	json.Unmarshal(s.wantStatus(t, 200, "GET", "/api/examples", nil), &list)
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
		i := slices.IndexFunc(e.Source.Files, func(f experiment.File) bool { return f.Name == "main.go" })
		if e.Summary == "" || i < 0 || !strings.Contains(e.Source.Files[i].Data, "package main") {
			t.Errorf("example %s: summary %q, %d files, none a main.go of package main", e.Name, e.Summary, len(e.Source.Files))
		}
	}
	want := []string{"blocking", "counter", "cpu", "crash", "files", "hello", "memory", "runaway", "sleep", "sse", "websocket"}
	if !slices.Equal(names, want) {
		t.Fatalf("examples %v, want %v", names, want)
	}

	var built struct {
		Hash      string  `json:"hash"`
		Cached    bool    `json:"cached"`
		ElapsedMS float64 `json:"elapsed_ms"`
	}
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/build", map[string]any{"source": list[4].Source}), &built)
	if len(built.Hash) != 64 {
		t.Fatalf("build: %+v", built)
	}

	bad := experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\nfunc main() {\n\tx := 1\n\tnope()\n}\n"}}}
	var diag struct {
		Error       string `json:"error"`
		Diagnostics []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Col     int    `json:"col"`
			Message string `json:"message"`
		} `json:"diagnostics"`
	}
	json.Unmarshal(s.wantStatus(t, 422, "POST", "/api/build", map[string]any{"source": bad}), &diag)
	if diag.Error != "does not compile" || len(diag.Diagnostics) == 0 {
		t.Fatalf("422 body: %+v", diag)
	}
	found := false
	for _, d := range diag.Diagnostics {
		if d.File == "main.go" && d.Line == 5 && d.Col == 2 && strings.Contains(d.Message, "undefined: nope") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no main.go:5:2 undefined: nope in %+v", diag.Diagnostics)
	}

	// Format: parity with the browser's go/format.
	var formatted struct {
		Source experiment.Source `json:"source"`
	}
	ugly := experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\nfunc main(){ }\n"}}}
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/format", map[string]any{"source": ugly}), &formatted)
	if got := formatted.Source.Files[0].Data; got != "package main\n\nfunc main() {}\n" {
		t.Fatalf("formatted %q", got)
	}
	s.wantStatus(t, 422, "POST", "/api/format", map[string]any{"source": experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\nfunc {"}}}})
}

// A short run of hello under the reactor streams its phases, stats, a
// summary and done.
func TestServeRunHello(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{Source: s.example(t, "hello"), Model: "reactor",
		Load: experiment.Load{Path: "/", Concurrency: 4, Requests: 200}}
	st := s.openEvents(t, s.startRunAPI(t, e, "tab-hello"))
	done, seen := st.until(t, 3*time.Minute, "done")
	var d struct{ Error, Stopped string }
	json.Unmarshal(done.Data, &d)
	if d.Error != "" || d.Stopped != "" {
		t.Fatalf("done: %s", done.Data)
	}
	var phases []string
	var sums []summaryEvent
	var stats, traceEvents int
	for _, ev := range seen {
		switch ev.Event {
		case "phase":
			var p struct{ Model, State string }
			json.Unmarshal(ev.Data, &p)
			phases = append(phases, p.Model+" "+p.State)
		case "stats":
			var st struct {
				Model     string           `json:"model"`
				OK        int              `json:"ok"`
				Histogram []map[string]any `json:"histogram"`
			}
			json.Unmarshal(ev.Data, &st)
			if st.Model != "reactor" || len(st.Histogram) == 0 {
				t.Errorf("stats %s", ev.Data)
			}
			stats++
		case "trace":
			var tr struct {
				Events  []map[string]any `json:"events"`
				Dropped int              `json:"dropped"`
			}
			json.Unmarshal(ev.Data, &tr)
			traceEvents += len(tr.Events)
		case "summary":
			var sum summaryEvent
			json.Unmarshal(ev.Data, &sum)
			sums = append(sums, sum)
		}
	}
	if want := []string{"reactor starting", "reactor running", "reactor stopped"}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if stats == 0 || traceEvents == 0 {
		t.Errorf("%d stats events, %d trace events", stats, traceEvents)
	}
	if len(sums) != 1 {
		t.Fatalf("%d summaries", len(sums))
	}
	sum := sums[0]
	t.Logf("summary: %+v", sum)
	if sum.Model != "reactor" || sum.Summary.Requests != 200 || sum.Summary.Succeeded != 200 ||
		sum.Summary.StatusCodes[200] != 200 || sum.RSSKB <= 0 || sum.Workers != 1 || sum.Sentence == "" {
		t.Fatalf("summary %+v", sum)
	}
	// Its workers are gone once the stream is done.
	waitFor(t, 5*time.Second, "no children after the run", func() bool { return len(s.Children()) == 0 })
}

// Compare runs the three models on the same handler and load: one summary
// each, with a sentence computed from what was measured.
func TestServeCompare(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{Source: s.example(t, "hello"), Model: "all",
		Knobs: experiment.Knobs{StartServers: 2, MaxRequestWorkers: 2, MinSpare: 1, MaxSpare: 2, ThreadsPerChild: 2},
		// Without keep-alive, a client does not hold a process or thread
		// (with it, the two clients left waiting would wait out the
		// KeepAliveTimeout, as under Apache).
		Load: experiment.Load{Concurrency: 4, DurationMS: 500, KeepAlive: experiment.Bool(false)}}
	st := s.openEvents(t, s.startRunAPI(t, e, "tab-compare"))
	_, seen := st.until(t, 3*time.Minute, "done")
	var sums []summaryEvent
	for _, ev := range seen {
		if ev.Event == "summary" {
			var sum summaryEvent
			json.Unmarshal(ev.Data, &sum)
			sums = append(sums, sum)
		}
	}
	if len(sums) != 4 {
		t.Fatalf("%d summaries, want 4; events: %s", len(sums), eventNames(seen))
	}
	for i, want := range []string{"process", "thread", "reactor", "event"} {
		sum := sums[i]
		t.Logf("%s: %s (rss %d KiB)", sum.Model, sum.Sentence, sum.RSSKB)
		if sum.Model != want || sum.Summary.Requests == 0 || sum.Summary.Succeeded != sum.Summary.Requests || sum.RSSKB <= 0 || sum.Sentence == "" {
			t.Errorf("summary %d: %+v", i, sum)
		}
	}
	if !strings.Contains(sums[0].Sentence, "2 processes served one connection each") {
		t.Errorf("process sentence %q", sums[0].Sentence)
	}
	if !strings.Contains(sums[1].Sentence, "2 threads in 1 process") || !strings.Contains(sums[1].Sentence, "the process model's") {
		t.Errorf("thread sentence %q", sums[1].Sentence)
	}
	if !regexp.MustCompile(`^the loop was busy \d+% of the time`).MatchString(sums[2].Sentence) || !strings.Contains(sums[2].Sentence, "the thread model's") {
		t.Errorf("reactor sentence %q", sums[2].Sentence)
	}
	if !strings.Contains(sums[3].Sentence, "2 threads in 1 process served one request each") || !strings.Contains(sums[3].Sentence, "the reactor model's") {
		t.Errorf("event sentence %q", sums[3].Sentence)
	}
}

func TestServeRunCompileError(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\nfunc main() { nope() }\n"}}}}
	st := s.openEvents(t, s.startRunAPI(t, e, "tab"))
	diag, _ := st.until(t, 3*time.Minute, "diagnostics")
	if !strings.Contains(string(diag.Data), `"line":3`) || !strings.Contains(string(diag.Data), "undefined: nope") {
		t.Fatalf("diagnostics %s", diag.Data)
	}
	done, _ := st.until(t, 10*time.Second, "done")
	if !strings.Contains(string(done.Data), "does not compile") {
		t.Fatalf("done %s", done.Data)
	}
}

// One running experiment per tab, two in all; a stopped run frees its place.
func TestServeRunCaps(t *testing.T) {
	s := startServe(t, "")
	long := experiment.Experiment{Source: s.example(t, "sleep"), Model: "reactor",
		Load: experiment.Load{Concurrency: 2, DurationMS: 30000}}
	a := s.startRunAPI(t, long, "tab-a")
	apiError(t, s.wantStatus(t, 429, "POST", "/api/runs", long, "X-Mpmlab-Tab", "tab-a"), "this tab already has a running experiment")
	b := s.startRunAPI(t, long, "tab-b")
	apiError(t, s.wantStatus(t, 429, "POST", "/api/runs", long, "X-Mpmlab-Tab", "tab-c"), "the limit is 2")

	stA := s.openEvents(t, a)
	stA.until(t, 3*time.Minute, "stats")
	s.wantStatus(t, 204, "POST", "/api/runs/"+a+"/stop", nil)
	done, _ := stA.until(t, 30*time.Second, "done")
	if !strings.Contains(string(done.Data), "stopped by the user") {
		t.Fatalf("done %s", done.Data)
	}
	// A's place is free: tab A may run again (and tab C is still refused
	// while A and B run).
	c := s.startRunAPI(t, long, "tab-a")
	apiError(t, s.wantStatus(t, 429, "POST", "/api/runs", long, "X-Mpmlab-Tab", "tab-c"), "the limit is 2")
	for _, id := range []string{b, c} {
		s.wantStatus(t, 204, "POST", "/api/runs/"+id+"/stop", nil)
		s.openEvents(t, id).until(t, 30*time.Second, "done")
	}
	waitFor(t, 10*time.Second, "no children after the runs", func() bool { return len(s.Children()) == 0 })
}

// A page that goes away mid-run stops its experiment: the workers are
// reaped.
func TestServeDisconnectReapsWorkers(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{Source: s.example(t, "sleep"), Model: "process",
		Knobs: experiment.Knobs{StartServers: 2, MaxRequestWorkers: 3, MinSpare: 1, MaxSpare: 3},
		Load:  experiment.Load{Concurrency: 3, DurationMS: 30000}}
	st := s.openEvents(t, s.startRunAPI(t, e, "tab"))
	st.until(t, 3*time.Minute, "stats")
	workers := s.Children()
	if len(workers) < 2 {
		t.Fatalf("%d worker processes running, want >= 2", len(workers))
	}
	st.close()
	waitFor(t, 10*time.Second, "the workers reaped after the page went away", func() bool {
		for _, pid := range workers {
			if alive(pid) {
				return false
			}
		}
		return len(s.Children()) == 0
	})
	waitFor(t, 5*time.Second, "the log to say why the run stopped", func() bool {
		return strings.Contains(s.Logs(), "the page went away")
	})
}

// A run whose page never connects to its event stream is stopped after 10s.
func TestServeAbandonedRunIsReaped(t *testing.T) {
	t.Parallel()
	s := startServe(t, "")
	e := experiment.Experiment{Source: s.example(t, "sleep"), Model: "reactor",
		Load: experiment.Load{Concurrency: 2, DurationMS: 60000}}
	id := s.startRunAPI(t, e, "tab")
	waitFor(t, 3*time.Minute, "workers started", func() bool { return len(s.Children()) > 0 && strings.Contains(s.Logs(), "ready in") })
	waitFor(t, 20*time.Second, "the abandoned run's workers reaped", func() bool { return len(s.Children()) == 0 })
	waitFor(t, 5*time.Second, "the log to say why the run stopped", func() bool {
		return strings.Contains(s.Logs(), "no one connected to the event stream")
	})
	s.wantStatus(t, 404, "GET", "/api/runs/"+id+"/events", nil)
}

// Shares: content-addressed ids, identical round trips, durable across
// restarts; and the fragment the answer carries decodes to the same.
func TestServeShare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir)
	e := experiment.Experiment{
		Source: experiment.Source{Files: []experiment.File{
			{Name: "util.go", Data: "package main\n\nconst x = \"<&>\"\n"},
			{Name: "main.go", Data: s.example(t, "cpu").Files[0].Data},
		}},
		Model: "all",
		Knobs: experiment.Knobs{ThreadsPerChild: 8, KeepAlive: experiment.Bool(false), MaxKeepAliveRequests: experiment.Int(0)},
		Load:  experiment.Load{Path: "/?ms=300", Method: "POST", Concurrency: 7, DurationMS: 1500, Rate: 12.5, KeepAlive: experiment.Bool(false)},
	}
	type shareResp struct{ ID, URL, Fragment string }
	var r1, r2 shareResp
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/shares", e), &r1)
	reordered := e
	reordered.Source.Files = []experiment.File{e.Source.Files[1], e.Source.Files[0]}
	reordered.Knobs.StartServers = experiment.DefaultStartServers // a default, written out
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/shares", reordered), &r2)
	if r1.ID == "" || r1.ID != r2.ID || r1.ID != e.ShareID() || r1.URL != "/p/"+r1.ID {
		t.Fatalf("shares %+v and %+v; want id %s", r1, r2, e.ShareID())
	}
	get := func(s *served) experiment.Experiment {
		data := s.wantStatus(t, 200, "GET", "/api/shares/"+r1.ID, nil)
		got, err := experiment.Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(data), e.Canonical()) {
			t.Errorf("stored form is not canonical:\n%s\n%s", data, e.Canonical())
		}
		return got
	}
	if got := get(s); !reflect.DeepEqual(got, e.Normalize()) {
		t.Fatalf("share round trip:\n got %+v\nwant %+v", got, e.Normalize())
	}
	frag, err := experiment.DecodeFragment(strings.TrimPrefix(r1.Fragment, "/#x="))
	if err != nil || !reflect.DeepEqual(frag, e.Normalize()) {
		t.Fatalf("fragment %q: %v", r1.Fragment, err)
	}
	page, _ := s.call(t, "GET", r1.URL, nil)
	if page != 200 && page != 503 { // 503: front end not built (no make)
		t.Fatalf("GET %s: %d", r1.URL, page)
	}

	s.Stop()
	s2 := startServe(t, dir)
	if got := get(s2); !reflect.DeepEqual(got, e.Normalize()) {
		t.Fatalf("share after a restart:\n got %+v\nwant %+v", got, e.Normalize())
	}
	apiError(t, s2.wantStatus(t, 404, "GET", "/api/shares/"+strings.Repeat("z", 11), nil), "no share zzzzzzzzzzz")
}

// Try sends one request to the handler under a model and answers with the
// response and who served it.
func TestServeTry(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{Source: s.example(t, "hello"), Model: "thread"}
	var r struct {
		Model      string            `json:"model"`
		Status     int               `json:"status"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
		DurationMS float64           `json:"duration_ms"`
		Worker     string            `json:"worker"`
		Error      string            `json:"error"`
	}
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/try", map[string]any{
		"experiment": e, "method": "GET", "path": "/?q=1", "headers": map[string]string{"X-Test": "yes"},
	}), &r)
	t.Logf("try: %+v", r)
	if r.Status != 200 || r.Model != "thread" || !strings.HasPrefix(r.Worker, "thread 0.") || r.Body == "" || r.DurationMS <= 0 || r.Error != "" {
		t.Fatalf("try: %+v", r)
	}
	if r.Headers["X-Mpmlab-Worker"] != r.Worker {
		t.Errorf("headers %v", r.Headers)
	}
	bad := e
	bad.Source = experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\nfunc main() { nope() }\n"}}}
	body := s.wantStatus(t, 422, "POST", "/api/try", map[string]any{"experiment": bad})
	if !strings.Contains(string(body), `"line":3`) {
		t.Fatalf("422: %s", body)
	}
	// The model keeps running for the next try of the same experiment: a
	// global counts across tries. Stop (at cleanup) reaps its workers.
	counter := experiment.Experiment{Source: s.example(t, "counter"), Model: "reactor"}
	var c1, c2 struct{ Body, Worker string }
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/try", map[string]any{"experiment": counter}), &c1)
	json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/try", map[string]any{"experiment": counter}), &c2)
	if !strings.HasPrefix(c1.Body, "global 1,") || !strings.HasPrefix(c2.Body, "global 2,") || c1.Worker != c2.Worker {
		t.Fatalf("two tries of counter answered %q (%s) and %q (%s): want global 1 then 2 from one worker", c1.Body, c1.Worker, c2.Body, c2.Worker)
	}
	if len(s.Children()) == 0 {
		t.Fatal("no worker kept running after the tries")
	}
}

// The static front end: index (or the not-built page), and app.wasm gzipped.
func TestServePlaygroundStatic(t *testing.T) {
	s := startServe(t, "")
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case 503:
		if !strings.Contains(string(page), "front end not built: run make run") {
			t.Fatalf("503 page %q", page)
		}
		t.Skip("front end not built (run make): skipping the app.wasm checks")
	case 200:
	default:
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.URL+"/app.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("app.wasm: %d %v", resp.StatusCode, resp.Header)
	}
}
