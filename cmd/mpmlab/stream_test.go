package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/experiment/record"
	"github.com/mpmlab/mpmlab/wasm/stream"
	"github.com/mpmlab/mpmlab/wasm/stream/streamtest"
)

// streamHandler exercises every part of the stream the live view draws:
// a request that holds the loop in guest.Compute (a pass segment of kind
// compute, a hold the view calls out), one whose work goes to the thread
// pool (pool events), and a fast one.
const streamHandler = `package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		guest.Compute(60 * time.Millisecond)
		fmt.Fprintln(w, "slow")
	})
	http.HandleFunc("/pool", func(w http.ResponseWriter, r *http.Request) {
		if err := guest.Pool.Block(5 * time.Millisecond); err != nil {
			http.Error(w, err.Error(), 503)
			return
		}
		fmt.Fprintln(w, "pooled")
	})
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	guest.Serve(nil)
}
`

// TestStreamSchema runs a real experiment on "mpmlab serve" and checks
// its stream against the schema (wasm/stream) and what the page reads of
// it (streamtest.Check): every message decodes into its type with no key
// left over, and every field the view reads comes in some message. A JSON
// name changed in the schema, or a field the host stops sending, fails it.
//
// With MPMLAB_STREAM_FIXTURE=path it also writes the run, thinned, as a
// recording (the format of a share's replay) to path: the fixture that
// wasm/app/internal/live replays into the view.
func TestStreamSchema(t *testing.T) {
	s := startServe(t, "")
	e := experiment.Experiment{
		Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: streamHandler}}},
		Model:  "reactor",
		Load: experiment.Load{DurationMS: 1500, Groups: []experiment.Group{
			{Name: "slow", Load: experiment.Load{Path: "/slow", Concurrency: 1}},
			{Name: "pool", Load: experiment.Load{Path: "/pool", Concurrency: 2}},
			{Name: "fast", Load: experiment.Load{Path: "/hello", Concurrency: 2}},
		}},
	}
	st := s.openEvents(t, s.startRunAPI(t, e, "tab-schema"))
	start := time.Now()
	var msgs []streamtest.Message
	var ts []float64
	done, seen := st.until(t, 3*time.Minute, stream.MsgDone)
	for _, ev := range seen {
		msgs = append(msgs, streamtest.Message{Event: ev.Event, Data: ev.Data})
		ts = append(ts, float64(time.Since(start).Milliseconds()))
	}
	var d stream.Done
	if err := json.Unmarshal(done.Data, &d); err != nil || d.Error != "" || d.Stopped != "" {
		t.Fatalf("done: %s", done.Data)
	}
	if err := streamtest.Check(msgs); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("MPMLAB_STREAM_FIXTURE"); path != "" {
		writeStreamFixture(t, path, msgs, ts)
	}
}

// writeStreamFixture writes msgs as a recording, keeping every message
// but the trace ones, of which it keeps the first few and each one that
// brings a kind of event the others lack; the thinned stream must still
// pass streamtest.Check.
func writeStreamFixture(t *testing.T, path string, msgs []streamtest.Message, ts []float64) {
	var kept []streamtest.Message
	var r record.Recorder
	have := map[string]bool{}
	traces := 0
	for i, m := range msgs {
		if m.Event == stream.MsgTrace {
			var tr stream.Trace
			json.Unmarshal(m.Data, &tr)
			fresh := false
			for _, e := range tr.Events {
				k := e.Kind
				if e.Kind == stream.EventPass {
					for _, p := range e.Passes {
						for _, sg := range p.Segs {
							k += "+" + sg.Kind
						}
					}
				}
				if !have[k] {
					have[k], fresh = true, true
				}
			}
			if traces++; traces > 6 && !fresh {
				continue
			}
		}
		kept = append(kept, m)
		r.Add(m.Event, m.Data, ts[i])
	}
	if err := streamtest.Check(kept); err != nil {
		t.Fatalf("the thinned fixture: %v", err)
	}
	blob, err := r.Recording(record.Machine{Cores: 2, OS: "linux", Arch: "amd64"}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d of %d messages, %d bytes", path, len(kept), len(msgs), len(blob))
}

// A message of the stream the page cannot decode is said on the page, not
// dropped: a share whose recording has a stats message of the wrong
// shape (rps a string) replays with the error below the form, and the
// messages around it still draw.
func TestBrowserStreamDecodeError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mpmlab serve and Chromium")
	}
	s := startServe(t, "")
	var r record.Recorder
	r.Add(stream.MsgPhase, []byte(`{"model":"reactor","state":"starting"}`), 0)
	r.Add(stream.MsgPhase, []byte(`{"model":"reactor","state":"running"}`), 10)
	r.Add(stream.MsgStats, []byte(`{"model":"reactor","t_ms":250,"rps":"fast"}`), 20)
	r.Add(stream.MsgPhase, []byte(`{"model":"reactor","state":"stopped"}`), 30)
	r.Add(stream.MsgDone, []byte(`{"error":""}`), 40)
	blob, err := r.Recording(record.Machine{Cores: 2, OS: "linux"}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL+"/api/blobs", "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	var b struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if resp.StatusCode != 200 || b.ID == "" {
		t.Fatalf("POST /api/blobs: %d %+v", resp.StatusCode, b)
	}
	e := experiment.Experiment{Source: s.example(t, "hello"), Model: "reactor", Recording: b.ID}
	var sh struct{ URL string }
	if err := json.Unmarshal(s.wantStatus(t, 200, "POST", "/api/shares", e), &sh); err != nil || sh.URL == "" {
		t.Fatalf("POST /api/shares: %v %+v", err, sh)
	}

	tb := newTab(t, newBrowser(t), true)
	tb.open(s.URL + sh.URL)
	tb.wait(`document.body.dataset.replayed === "1"`, 2*time.Minute, "the recording to replay")
	msg := tb.evalString(`document.getElementById("run-error").hidden ? "" : document.getElementById("run-error").textContent`)
	t.Logf("run-error: %q", msg)
	if !strings.Contains(msg, "the host's stats message could not be read") || !strings.Contains(msg, "rps") {
		t.Errorf("the page says %q below the form; want that the stats message could not be read, and why", msg)
	}
	if state := tb.evalString(`document.getElementById("live").dataset.state`); state != stream.PhaseStopped {
		t.Errorf("the live view's state is %q after the replay; want the phase messages around the bad one to draw (stopped)", state)
	}
}
