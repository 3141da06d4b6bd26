package playground

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// logBuffer collects a Server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestServer(t *testing.T, logs *logBuffer) *Server {
	t.Helper()
	s, err := New(Config{DataDir: t.TempDir(), CacheDir: t.TempDir(), Executable: "/bin/false", Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func forcePanic(t *testing.T, at string) {
	t.Cleanup(func() { testHookPanic = nil })
	testHookPanic = func(where string) {
		if where == at {
			panic("forced panic at " + at)
		}
	}
}

var hello = experiment.Experiment{Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\nfunc main() {}\n"}}}}

// A panic in a run ends that run with an internal error, logged with its
// stack, and releases its place; the server lives on.
func TestPlaygroundRunPanic(t *testing.T) {
	forcePanic(t, "experiment")
	var logs logBuffer
	s := newTestServer(t, &logs)
	run, err := s.runs.create("tab", hello.Normalize())
	if err != nil {
		t.Fatal(err)
	}
	s.execute(run)
	msgs, _ := run.out.take()
	if len(msgs) == 0 || msgs[len(msgs)-1].event != "done" {
		t.Fatalf("messages %v: want a done event last", msgs)
	}
	var done stream.Done
	json.Unmarshal(msgs[len(msgs)-1].data, &done)
	if done.Error != "internal error: forced panic at experiment" || done.Stopped != "" {
		t.Errorf("done %+v", done)
	}
	if l := logs.String(); !strings.Contains(l, "panic in run: forced panic at experiment") || !strings.Contains(l, "goroutine ") {
		t.Errorf("log lacks the panic and its stack:\n%s", l)
	}
	if s.runs.running != 0 {
		t.Errorf("%d runs still running", s.runs.running)
	}
	if run, err := s.runs.create("tab", hello.Normalize()); err != nil {
		t.Errorf("after a panic: %v", err)
	} else {
		s.runs.finish(run)
	}
}

// A panic in one of runModel's goroutines (the tracer here) is returned as
// an internal error. The stats ticker and the event callbacks are guarded
// the same way (runModel's caught), but need running workers to reach.
func TestPlaygroundTracerPanic(t *testing.T) {
	forcePanic(t, "trace")
	var logs logBuffer
	s := newTestServer(t, &logs)
	run, err := s.runs.create("", hello.Normalize())
	if err != nil {
		t.Fatal(err)
	}
	defer s.runs.finish(run)
	_, err = s.runModel(run, part{model: models.Reactor, exp: run.exp}, &runtime.Artifact{Path: "/nonexistent/x.wasm"}, nil)
	var ie *internalError
	if !errors.As(err, &ie) || err.Error() != "internal error: forced panic at trace" {
		t.Fatalf("err = %v, want the tracer's panic", err)
	}
	if !strings.Contains(logs.String(), "panic in the tracer") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// Stop ends tries in flight (and waits for them) and refuses new ones,
// while shares still work until Close.
func TestPlaygroundStopEndsTries(t *testing.T) {
	var logs logBuffer
	s := newTestServer(t, &logs)
	srv := httptest.NewServer(s)
	defer srv.Close()
	// Hold every build slot: a try then waits for one.
	for range maxBuilds {
		<-s.builds
	}
	post := func(path string, v any) (int, string) {
		b, _ := json.Marshal(v)
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error
	}
	type answer struct {
		status int
		msg    string
	}
	tried := make(chan answer, 1)
	go func() {
		st, msg := post("/api/try", map[string]any{"experiment": hello})
		tried <- answer{st, msg}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.tries) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the try did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if n := len(s.tries); n != 0 {
		t.Errorf("Stop returned with %d tries in flight", n)
	}
	select {
	case a := <-tried:
		if a.status != http.StatusServiceUnavailable || a.msg != "build cancelled" {
			t.Errorf("try in flight: %d %q", a.status, a.msg)
		}
	case <-time.After(5 * time.Second):
		t.Error("the try in flight got no answer")
	}
	if st, msg := post("/api/try", map[string]any{"experiment": hello}); st != http.StatusServiceUnavailable || !strings.Contains(msg, "shutting down") {
		t.Errorf("try after Stop: %d %q", st, msg)
	}
	if st, msg := post("/api/runs", hello); st != http.StatusServiceUnavailable {
		t.Errorf("run after Stop: %d %q", st, msg)
	}
	if st, msg := post("/api/shares", hello); st != http.StatusOK {
		t.Errorf("share after Stop: %d %q", st, msg)
	}
}
