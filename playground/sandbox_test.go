package playground

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// An experiment's data files and env reach its handler through the
// playground (a try runs the model's real workers), and a change of env
// is another experiment: another warm model, not the one with the old env.
func TestPlaygroundTrySeesFilesAndEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a handler and starts workers")
	}
	s, _, logs := workerServer(t)
	e := experiment.Experiment{
		Model: "thread",
		Source: experiment.Source{Files: []experiment.File{
			{Name: "main.go", Data: `package main

import (
	"net/http"
	"os"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("greeting.txt")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(append(b, " "+os.Getenv("WHO")...))
	})
	guest.Serve(nil)
}
`},
			{Name: "greeting.txt", Data: "bonjour"},
		}},
	}
	try := func(e experiment.Experiment) string {
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
		return r.Body
	}
	e.Env = map[string]string{"WHO": "Alice"}
	if got := try(e); got != "bonjour Alice" {
		t.Fatalf("try with WHO=Alice: %q", got)
	}
	e.Env = map[string]string{"WHO": "Bob"}
	if got := try(e); got != "bonjour Bob" {
		t.Fatalf("try with WHO=Bob: %q (the warm model of the old env answered?)", got)
	}
}
