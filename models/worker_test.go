package models

import (
	"bufio"
	"encoding/json"
	"os"
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
		for range 3 * cap(ew.ch) {
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
