package playground

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// The playground validates an experiment against the page's ranges of
// experiment.KnobTable only (validateExperiment), and the engine its
// configuration against the engine's ranges of the same table
// (models.Config.Validate): every valid experiment must be a valid engine
// configuration under every model, each knob at the ends of its page
// range included, and the mapping must keep the knobs.
func TestPlaygroundConfigValid(t *testing.T) {
	src := experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main"}}}
	for i := range experiment.KnobTable {
		k := &experiment.KnobTable[i]
		if k.Unit == experiment.Switch {
			continue
		}
		for _, v := range []int{k.Min, k.Limit()} {
			e := experiment.Experiment{Source: src, Model: experiment.AllModels}
			if k.Optional() {
				*k.Opt(&e.Knobs) = experiment.Int(v)
			} else {
				*k.Int(&e.Knobs) = v
			}
			if err := validateExperiment(e); err != nil {
				continue // out of bounds with the other knobs' defaults (start_servers past max_request_workers)
			}
			for _, m := range models.Models {
				cfg := modelConfig(e.Normalize(), m)
				cfg.Wasm = "x.wasm"
				if err := cfg.WithDefaults().Validate(); err != nil {
					t.Errorf("knobs.%s %d: a valid experiment, but under %s: %v", k.Name, v, m, err)
				}
			}
		}
	}
	e := experiment.Experiment{Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main"}}}, Model: "all",
		Knobs: experiment.Knobs{MinSpare: -1, MaxKeepAliveRequests: experiment.Int(0), KeepAlive: experiment.Bool(false), ThreadsPerChild: 7}}
	if err := validateExperiment(e); err != nil {
		t.Fatal(err)
	}
	cfg := modelConfig(e.Normalize(), models.Thread)
	if cfg.MinSpare != 0 || cfg.MaxKeepAliveRequests != 0 || cfg.KeepAlive || cfg.ThreadsPerChild != 7 || cfg.Timeout != experiment.DefaultTimeoutMS*time.Millisecond || cfg.MemoryLimit != runtime.DefaultMemoryLimit {
		t.Fatalf("modelConfig: %+v", cfg)
	}
	// max_keepalive_requests means what the CLI's --max-keepalive-requests
	// (the engine's MaxKeepAliveRequests) means: 0 unlimited, absent 100.
	for js, want := range map[string]int{`{}`: experiment.DefaultMaxKeepAlive, `{"max_keepalive_requests":0}`: 0, `{"max_keepalive_requests":3}`: 3} {
		var k experiment.Knobs
		if err := json.Unmarshal([]byte(js), &k); err != nil {
			t.Fatal(err)
		}
		if got := modelConfig(experiment.Experiment{Knobs: k}.Normalize(), models.Process).MaxKeepAliveRequests; got != want {
			t.Errorf("knobs %s: the engine's MaxKeepAliveRequests is %d, want %d", js, got, want)
		}
	}
}

func TestPlaygroundTraceSampling(t *testing.T) {
	out := newOutbox()
	tr := newTracer(out)
	now := time.Now().UnixNano()
	for i := range 3000 {
		tr.onEvent(stream.Event{Kind: stream.EventReqStart, Process: i % 4, Req: uint64(i), T: now + int64(i)})
		tr.onEvent(stream.Event{Kind: stream.EventReqEnd, Process: i % 4, Req: uint64(i), T: now + int64(i) + 1, Dur: 1})
		tr.onEvent(stream.Event{Kind: stream.EventState, Process: i % 4, State: stream.StateSending, T: now + int64(i)})
	}
	tr.onEvent(stream.Event{Kind: stream.EventQueue, Value: 7, T: now})
	tr.onEvent(stream.Event{Kind: stream.EventBeat, T: now})
	tr.flush()
	msgs, _ := out.take()
	if len(msgs) != 1 || msgs[0].event != "trace" {
		t.Fatalf("messages %v", msgs)
	}
	var b stream.Trace
	if err := json.Unmarshal(msgs[0].data, &b); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	starts := map[uint64]bool{}
	paired := 0
	for _, e := range b.Events {
		counts[e.Kind]++
		if e.Kind == stream.EventReqStart {
			starts[uint64(e.Process)<<32|e.Req] = true
		}
		if e.Kind == stream.EventReqEnd && starts[uint64(e.Process)<<32|e.Req] {
			paired++
		}
	}
	reqs := counts[stream.EventReqStart] + counts[stream.EventReqEnd]
	if reqs > maxReqEvents || reqs < maxReqEvents/2 {
		t.Errorf("%d request events in the batch, want about %d", reqs, maxReqEvents)
	}
	if paired < counts[stream.EventReqEnd]*9/10 {
		t.Errorf("only %d of %d sampled ends have their start", paired, counts[stream.EventReqEnd])
	}
	if counts[stream.EventState] != 4 || counts[stream.EventQueue] != 1 || counts[stream.EventBeat] != 0 {
		t.Errorf("counts %v: want the last state of each of 4 lanes, the queue event, no heartbeat", counts)
	}
	if want := 9000 - reqs - 4; b.Dropped != want {
		t.Errorf("dropped %d, want %d", b.Dropped, want)
	}
	if tr.queuePeak != 7 {
		t.Errorf("queue peak %d", tr.queuePeak)
	}
}

// A request whose start one batch sent has its end sent by a later
// batch, however that batch is sampled: a bar without its end would be
// drawn as running until the run ends.
func TestPlaygroundTraceSamplingKeepsEnds(t *testing.T) {
	out := newOutbox()
	tr := newTracer(out)
	now := time.Now().UnixNano()
	batch := func() stream.Trace {
		t.Helper()
		tr.flush()
		msgs, _ := out.take()
		var b stream.Trace
		if len(msgs) != 1 || json.Unmarshal(msgs[0].data, &b) != nil {
			t.Fatalf("messages %v", msgs)
		}
		return b
	}
	const n = 3000
	for i := range n {
		tr.onEvent(stream.Event{Kind: stream.EventReqStart, PID: 9, Req: uint64(i), T: now + int64(i)})
	}
	started := map[uint64]bool{}
	for _, e := range batch().Events {
		started[e.Req] = true
	}
	for i := range n {
		tr.onEvent(stream.Event{Kind: stream.EventReqRun, PID: 9, Req: uint64(i), T: now + 5000 + int64(i)})
		tr.onEvent(stream.Event{Kind: stream.EventReqEnd, PID: 9, Req: uint64(i), T: now + 10000 + int64(i), Dur: 10000})
	}
	ended := map[uint64]bool{}
	for _, e := range batch().Events {
		if e.Kind == stream.EventReqEnd {
			ended[e.Req] = true
		}
		if e.Kind == stream.EventReqRun && !started[e.Req] {
			t.Errorf("req_run of request %d, whose start was left out", e.Req)
		}
	}
	missing := 0
	for r := range started {
		if !ended[r] {
			missing++
		}
	}
	if len(started) == 0 || len(started) == n || missing > 0 {
		t.Errorf("%d of %d starts sent (want a sample); %d of them without their end", len(started), n, missing)
	}
}

func TestPlaygroundSentence(t *testing.T) {
	sum := func(n, ok int, p99 time.Duration, codes map[int]int) *loadgen.Summary {
		return &loadgen.Summary{Requests: n, Succeeded: ok, StatusCodes: codes, Latency: loadgen.LatencyStats{P99: p99}}
	}
	process := &stream.Result{Model: "process", Workers: 4, Lanes: 1, BusyPeak: 4, QueuePeak: 31, LoopUtil: -1,
		Summary: sum(200, 200, 100*time.Millisecond, map[int]int{200: 200})}
	thread := &stream.Result{Model: "thread", Workers: 1, Lanes: 4, BusyPeak: 3, LoopUtil: -1, Deaths: 1, DeathFailed: 4, DeathCause: "panic: crash requested",
		Summary: sum(200, 190, 10*time.Millisecond, map[int]int{200: 190, 502: 10})}
	reactor := &stream.Result{Model: "reactor", Workers: 1, Lanes: 1, LoopUtil: 0.94, LagP99MS: 180,
		Summary: sum(200, 200, 120*time.Millisecond, map[int]int{200: 200})}
	// Keep-alive pinning: 4 clients hold the 4 threads, 6 wait in the
	// accept queue and time out; the p99 of those answered is low.
	pinned := &stream.Result{Model: "thread", Workers: 1, Lanes: 4, BusyPeak: 4, QueuePeak: 6, LoopUtil: -1,
		Pinning: &stream.Pinning{Lanes: 4, Idle: 3, Queue: 6},
		Summary: &loadgen.Summary{Requests: 200, Succeeded: 194, Errors: 6, StatusCodes: map[int]int{200: 194},
			ErrorKinds: map[string]int{"timeout": 6}, Latency: loadgen.LatencyStats{P99: 398 * time.Millisecond}}}
	slowProcess := &stream.Result{Model: "process", Workers: 4, Lanes: 1, BusyPeak: 4, LoopUtil: -1,
		Summary: sum(200, 200, 4400*time.Millisecond, map[int]int{200: 200})}
	oneFailure := &stream.Result{Model: "thread", Workers: 1, Lanes: 4, BusyPeak: 4, LoopUtil: -1,
		Summary: sum(200, 199, 10*time.Millisecond, map[int]int{200: 199, 502: 1})}
	cases := []struct {
		r, prev *stream.Result
		want    string
	}{
		{process, nil, "4 processes served one connection each (all 4 busy at the peak); 31 connections waited in the accept queue (peak); p99 100 ms"},
		{thread, process, "4 threads in 1 process served one connection each (3 busy at the peak); no connection waited in the accept queue; a process died once taking its 4 threads with it: panic: crash requested; 10 of 200 requests failed (502 ×10), 4 of them in flight in a worker that died; p99 10 ms, not compared with the process model's: 5% of requests failed, more than the 1% a p99 leaves out, so the failures, not the p99, are this model's tail"},
		{reactor, thread, "the loop was busy 94% of the time (loop lag p99 180 ms over the whole load); p99 120 ms, not compared with the thread model's, whose failures (5% of its requests) are more than the 1% a p99 leaves out"},
		{reactor, process, "the loop was busy 94% of the time (loop lag p99 180 ms over the whole load); p99 120 ms, about the process model's"},
		{thread, nil, "4 threads in 1 process served one connection each (3 busy at the peak); no connection waited in the accept queue; a process died once taking its 4 threads with it: panic: crash requested; 10 of 200 requests failed (502 ×10), 4 of them in flight in a worker that died; p99 10 ms, but 5% of requests failed, more than the 1% a p99 leaves out, so the failures, not the p99, are this model's tail"},
		{pinned, slowProcess, "4 threads in 1 process served one connection each (all 4 busy at the peak); 6 connections waited in the accept queue (peak); 6 of 200 requests failed (timeout ×6), from keep-alive pinning: all 4 threads held by keep-alive connections (up to 3 idle, waiting for their client's next request) while up to 6 connections waited in the accept queue for one to close; p99 398 ms, not compared with the process model's: 3% of requests failed, more than the 1% a p99 leaves out, so the failures, not the p99, are this model's tail"},
		{oneFailure, slowProcess, "4 threads in 1 process served one connection each (all 4 busy at the peak); no connection waited in the accept queue; 1 of 200 requests failed (502 ×1); p99 10 ms (1 failure, within the 1% a p99 leaves out), 440× lower than the process model's"},
	}
	for _, c := range cases {
		if got := sentence(c.r, c.prev); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.r.Model, got, c.want)
		}
	}
}

// The error paths that need no build or worker, in process.
func TestPlaygroundHandlerLimits(t *testing.T) {
	pg, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	srv := httptest.NewServer(pg)
	defer srv.Close()
	cases := []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"POST", "/api/runs", `{"knobs":{"loops":0,"connections":20000}}`, 400, "source.files"},
		{"POST", "/api/runs", `{"source":{"files":[{"name":"main.go","data":"package main"}]},"knobs":{"connections":20000}}`, 400, "knobs.connections 20000 out of range 1..10000"},
		{"POST", "/api/shares", `{"source":{"files":[{"name":"main.go","data":"package main"}]},"load":{"method":"BREW"}}`, 400, "load.method"},
		{"POST", "/api/shares", `{"source":{"files":[{"name":"../main.go","data":"package main"}]}}`, 400, "source.files"},
		{"POST", "/api/runs", `{"source":{"files":[{"name":"main.go","data":"package main"}]},"env":{"A=B":"x"}}`, 400, `env: name "A=B": may not contain '=' or NUL`},
		{"POST", "/api/try", `{"experiment":{"source":{"files":[{"name":"main.go","data":"package main"}]},"env":{"MPMLAB_PID":"1"}}}`, 400, `env: name "MPMLAB_PID": names starting with MPMLAB_ are the host's`},
		{"POST", "/api/shares", `{"source":{"files":[{"name":"main.go","data":"package main"},{"name":"x.exe","data":""}]}}`, 400, `file name "x.exe": want a .go file or a data file`},
		{"POST", "/api/shares", `{"source":` + strings.Repeat(" ", 300<<10) + `}`, 413, "request body over"},
		{"POST", "/api/runs", `{"model":`, 400, "json"},
		{"POST", "/api/runs", `{"model":"thread"} trailing`, 400, "after the value"},
		{"GET", "/api/shares/short", ``, 404, "no share"},
		{"DELETE", "/api/examples", ``, 404, "no API endpoint DELETE /api/examples"},
		{"POST", "/", ``, 405, ""},
		{"GET", "/app.wasm", ``, -1, ""}, // 200 after make, else 404 "front end not built"
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if c.status == -1 { // either answer, each with its own body
			if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusNotFound || !strings.Contains(body.Error, "front end not built")) {
				t.Errorf("%s %s: %d %q, want 200, or 404 saying the front end is not built", c.method, c.path, resp.StatusCode, body.Error)
			}
			continue
		}
		if resp.StatusCode != c.status || !strings.Contains(body.Error, c.says) {
			t.Errorf("%s %s: %d %q, want %d saying %q", c.method, c.path, resp.StatusCode, body.Error, c.status, c.says)
		}
	}
}

// Every example carries its own knobs and load (GET /api/examples), and
// the load ends within a few seconds on each model: bounded by
// duration_ms, or by requests at an open-loop rate.
func TestPlaygroundExampleLoads(t *testing.T) {
	const most = 5 * time.Second
	pg, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	srv := httptest.NewServer(pg)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/examples")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Name  string           `json:"name"`
		Watch string           `json:"watch"`
		Knobs experiment.Knobs `json:"knobs"`
		Load  experiment.Load  `json:"load"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list) != len(runtime.ExampleNames()) {
		t.Fatalf("%d examples listed, want %d", len(list), len(runtime.ExampleNames()))
	}
	for _, ex := range list {
		if _, err := readExampleSettings(ex.Name); err != nil {
			t.Error(err)
			continue
		}
		if ex.Watch == "" {
			t.Errorf("example %s says nothing of what to look for (\"watch\" in wasm/examples/%s/experiment.json)", ex.Name, ex.Name)
		}
		l := ex.Load.Normalize()
		var bound time.Duration
		switch {
		case l.DurationMS > 0:
			bound = time.Duration(l.DurationMS) * time.Millisecond
		case l.Rate > 0:
			bound = time.Duration(float64(l.Requests) / l.Rate * float64(time.Second))
		}
		if bound == 0 || bound > most {
			t.Errorf("example %s: load %+v is not bounded to %v per model (set duration_ms, or requests at a rate, in wasm/examples/%s/experiment.json)", ex.Name, l, most, ex.Name)
		}
	}
}

// The load ends between two stats ticks: a last window of 1 ms with 6
// results must not read 6000 req/s when the run did about 64.
func TestPlaygroundShortLastStatsWindow(t *testing.T) {
	l := newLiveStats(nil)
	add := func(n int) {
		for range n {
			l.add(loadgen.Result{Status: 200, Latency: 10 * time.Millisecond})
		}
	}
	add(16)
	if ev, n := l.snapshot(statsInterval); ev.RPS != 64 || n != 16 {
		t.Fatalf("a 250 ms window of 16 results: rps %v, n %d", ev.RPS, n)
	}
	add(6)
	ev, n := l.snapshot(time.Millisecond)
	if n != 6 || ev.RPS < 60 || ev.RPS > 100 || ev.OK != 22 {
		t.Fatalf("a last window of 1 ms with 6 results: rps %v (want it joined to the window before, about 88), n %d, ok %d", ev.RPS, n, ev.OK)
	}
}

// Failure kinds name the three most common and count the rest, so that
// they add up.
func TestPlaygroundFailureKinds(t *testing.T) {
	s := &loadgen.Summary{Requests: 6, StatusCodes: map[int]int{502: 1, 504: 2}, ErrorKinds: map[string]int{"EOF": 2, "timeout": 1}}
	if got, want := failureKinds(s), "504 ×2, EOF ×2, 502 ×1 and 1 other"; got != want {
		t.Errorf("failureKinds = %q, want %q", got, want)
	}
	s.ErrorKinds["connection reset"] = 3
	if got, want := failureKinds(s), "connection reset ×3, 504 ×2, EOF ×2 and 2 others"; got != want {
		t.Errorf("failureKinds = %q, want %q", got, want)
	}
}

// Keep-alive pinning is every lane held while connections wait; a free
// lane, or an empty queue, is not.
func TestPlaygroundObservePinning(t *testing.T) {
	r := &stream.Result{Model: "thread"}
	observePinning(r, []string{stream.StateSending, stream.StateKeepAlive, stream.StateIdle, stream.StateSending}, 5)
	observePinning(r, []string{stream.StateSending, stream.StateKeepAlive, stream.StateKeepAlive, stream.StateSending}, 0)
	if r.Pinning != nil {
		t.Fatalf("pinning %+v with a free lane or no one waiting", r.Pinning)
	}
	observePinning(r, []string{stream.StateSending, stream.StateKeepAlive, stream.StateKeepAlive, stream.StateSending}, 3)
	observePinning(r, []string{stream.StateKeepAlive, stream.StateSending, stream.StateSending, stream.StateSending}, 6)
	if want := (stream.Pinning{Lanes: 4, Idle: 2, Queue: 6}); r.Pinning == nil || *r.Pinning != want {
		t.Fatalf("pinning %+v, want %+v", r.Pinning, want)
	}
}

// The tracer sends an event that comes after a quiet interval at once,
// and the model's first answered request at once even within the
// interval (a person who clicked Run waits for it); what follows waits
// for the interval: here an hour, so only the run's end sends it.
func TestTracerSendsFirstAnswerAtOnce(t *testing.T) {
	out := newOutbox()
	tr := newTracer(out)
	tr.interval = time.Hour
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { tr.run(stop); close(done) }()
	var batches [][]string
	next := func(what string) {
		t.Helper()
		for {
			msgs, _ := out.take()
			for _, m := range msgs {
				var b stream.Trace
				if err := json.Unmarshal(m.data, &b); err != nil {
					t.Fatal(err)
				}
				var kinds []string
				for _, e := range b.Events {
					kinds = append(kinds, e.Kind)
				}
				batches = append(batches, kinds)
			}
			if len(msgs) > 0 {
				return
			}
			select {
			case <-out.notify:
			case <-time.After(time.Minute):
				t.Fatalf("%s was not sent (batches so far %v)", what, batches)
			}
		}
	}
	now := time.Now().UnixNano()
	tr.onEvent(stream.Event{Kind: stream.EventSpawn, PID: 7, T: now})
	next("the first event")
	tr.onEvent(stream.Event{Kind: stream.EventReady, PID: 7, T: now + 1})
	tr.onEvent(stream.Event{Kind: stream.EventReqEnd, PID: 7, Req: 1, T: now + 3, Dur: 1})
	next("the first answer")
	tr.onEvent(stream.Event{Kind: stream.EventReqEnd, PID: 7, Req: 2, T: now + 5, Dur: 1})
	tr.onEvent(stream.Event{Kind: stream.EventReqEnd, PID: 7, Req: 3, T: now + 7, Dur: 1})
	close(stop)
	<-done
	next("the end's batch")
	want := [][]string{{"spawn"}, {"ready", "req_end"}, {"req_end", "req_end"}}
	if fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Errorf("batches %v, want %v", batches, want)
	}
}
