package models

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// A worker's exit event reaches the supervisor even when the guest printed
// more than the event queue holds while the supervisor was not reading:
// output may be dropped, lifecycle events may not.
func TestExitEventIsNeverDropped(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ew := newEventWriter(pw)
	printed, sent := make(chan struct{}), make(chan struct{})
	go func() {
		// No one reads yet: the pipe fills, then the queue, and most of
		// these are dropped.
		for range 3 * maxQueuedEvents {
			ew.send(stream.Event{Kind: stream.EventLog, Text: "output"})
		}
		close(printed)
		ew.send(stream.Event{Kind: stream.EventExit, Cause: "guest crashed"})
		ew.close()
		pw.Close()
		close(sent)
	}()
	<-printed
	exits := 0
	r := bufio.NewReader(pr)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		var e stream.Event
		if json.Unmarshal(line, &e) == nil && e.Kind == stream.EventExit && e.Cause == "guest crashed" {
			exits++
		}
	}
	<-sent
	if exits != 1 {
		t.Fatalf("%d exit events reached the reader, want 1", exits)
	}
}

// A worker's event queue costs its heap what waits in it, not its bound:
// a channel of 4,096 events was 1.8 MB of every worker's live heap, which
// the collector's goal then counted half again (RATIONALE.md, "A worker's
// memory").
func TestEventWriterHeapIsWhatWaits(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() { // the supervisor reads
		b := make([]byte, 4096)
		for {
			if _, err := pr.Read(b); err != nil {
				return
			}
		}
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ew := newEventWriter(pw)
	for range 100 {
		ew.send(stream.Event{Kind: stream.EventLog, Text: "output"})
	}
	ew.close()
	runtime.ReadMemStats(&after)
	pw.Close()
	// The writer's 64 KiB buffer, the encoder, a batch: well under the
	// 1.8 MB the channel took.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 512<<10 {
		t.Errorf("an event writer that wrote 100 events allocated %d KiB, want under 512 KiB", grown>>10)
	}
}

// A guest that serves one request at a time collects at guestGCPercent
// (its heap floor is most of the linear memory it writes), unless the
// experiment sets GOGC; a loop's guest, whose heap holds every
// connection, and the interpreter's keep Go's default.
func TestGuestGCPercent(t *testing.T) {
	want := "MPMLAB_GOGC=" + strconv.Itoa(guestGCPercent)
	for _, c := range []struct {
		model       Model
		interpreter bool
		env         []string
		set         bool
	}{
		{Process, false, nil, true},
		{Thread, false, nil, true},
		{EventMPM, false, nil, true},
		{Reactor, false, nil, false},
		{Process, true, nil, false},
		{Process, false, []string{"GOGC=100"}, false},
	} {
		p, err := PolicyOf(c.model)
		if err != nil {
			t.Fatal(err)
		}
		w := &worker{policy: p, spec: workerSpec{Model: c.model, Interpreter: c.interpreter, Env: c.env}}
		cfg := w.instanceConfig(&lane{}, nil, nil)
		if got := slices.Contains(cfg.Env, want); got != c.set {
			t.Errorf("%s, interpreter %v, env %q: %s in the guest's environment: %v, want %v", c.model, c.interpreter, c.env, want, got, c.set)
		}
	}
}
