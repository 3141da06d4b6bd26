package playground

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// With MPMLAB_WORKER_SPEC set this test binary is started as a worker
// process ("mpmlab worker") by the tests that run a model.
func TestMain(m *testing.M) {
	if os.Getenv("MPMLAB_WORKER_SPEC") != "" {
		if err := models.RunWorker(); err != nil {
			os.Exit(5)
		}
		return
	}
	os.Exit(m.Run())
}

// Tries of one experiment reach the same running model, so the counter
// counts; once idle for warm.idle, the model is stopped and its worker
// reaped.
func TestPlaygroundTryKeepsModel(t *testing.T) {
	s, _, logs := workerServer(t)
	s.warm.idle = 500 * time.Millisecond
	src, err := runtime.ExampleSource("counter")
	if err != nil {
		t.Fatal(err)
	}
	e := experiment.Experiment{Model: "reactor", Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: string(src.Files[0].Data)}}}}
	try := func() tryResponse {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"experiment": e})
		w := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "http://localhost/api/try", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.ServeHTTP(w, req)
		var r tryResponse
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &r) != nil || r.Status != 200 {
			t.Fatalf("try: %d %s\n%s", w.Code, w.Body, logs.String())
		}
		return r
	}
	first, second := try(), try()
	if !strings.HasPrefix(first.Body, "global 1,") || !strings.HasPrefix(second.Body, "global 2,") || first.Worker != second.Worker {
		t.Fatalf("two tries answered %q from %s and %q from %s: want global 1 then 2 from one worker", first.Body, first.Worker, second.Body, second.Worker)
	}
	var pid int // "loop 0 (pid 4242)"
	if _, err := fmt.Sscanf(first.Worker[strings.Index(first.Worker, "(pid"):], "(pid %d)", &pid); err != nil {
		t.Fatalf("worker %q: %v", first.Worker, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.warm.count() > 0 || syscall.Kill(pid, 0) == nil { // a reaped worker is gone
		if time.Now().After(deadline) {
			t.Fatalf("the model of the tries still runs (worker %d) 10 s after they ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
