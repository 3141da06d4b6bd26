// Package record is a recorded run: the event stream a run's live view
// drew (the SSE messages of playground/API.md: phase, trace, stats,
// summary, done) with the time each came, and the machine it ran on. A
// share carries one as a blob, so a recipient's page replays the run into
// the same live view, with no host.
//
//	var r record.Recorder
//	r.Add("stats", data, 250) // each message, with ms since the run began
//	blob, err := r.Recording(record.Machine{Cores: 8, OS: "linux"}).Encode()
//	...
//	rec, err := record.Decode(blob)
//
// # Notes
//
//   - Bounded: a Recorder keeps at most MaxRaw bytes of messages; past
//     that it drops trace messages (the per-request detail) and keeps
//     every other kind, counting what it dropped. Encode thins the trace
//     messages further until the compressed form fits MaxEncoded.
//   - The encoding is raw DEFLATE (RFC 1951) of the JSON, as the #x=
//     fragment's: compress/flate, which the browser app has.
//   - It depends on the standard library only (the app is GOOS=js).
package record

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of a recording.
const (
	// MaxRaw caps the messages a Recorder keeps, uncompressed.
	MaxRaw = 32 << 20
	// MaxEncoded caps an encoded recording: a blob well within the share
	// store's (share.MaxBlobSize).
	MaxEncoded = 4 << 20
	// Version is the format's version, in every recording.
	Version = 1
)

// Machine is what a run was measured on (GET /api/host).
type Machine struct {
	Cores int    `json:"cores"`
	OS    string `json:"os"`
	Arch  string `json:"arch"`
}

// String describes the machine: "8 cores, linux/amd64".
func (m Machine) String() string {
	s := fmt.Sprintf("%d cores", m.Cores)
	if m.Cores == 1 {
		s = "1 core"
	}
	if m.OS != "" {
		s += ", " + m.OS
		if m.Arch != "" {
			s += "/" + m.Arch
		}
	}
	return s
}

// Message is one event of the stream.
type Message struct {
	T     float64         `json:"t"`     // ms since the run began
	Event string          `json:"event"` // the SSE event name: phase, trace, stats, summary, done
	Data  json.RawMessage `json:"data"`  // its data, as sent
}

// Recording is a recorded run.
type Recording struct {
	Version  int       `json:"version"`
	Machine  Machine   `json:"machine"`
	Messages []Message `json:"messages"`
	// DroppedTraces counts trace messages left out to stay within the
	// limits: the picture of those moments has less detail.
	DroppedTraces int `json:"dropped_traces,omitempty"`
}

// Recorder collects a run's messages, within MaxRaw. Its zero value is
// ready to use.
type Recorder struct {
	msgs    []Message
	size    int
	dropped int
}

// Add records one message (its data must be JSON), at t ms since the run
// began. Past MaxRaw, trace messages are dropped; other kinds are always
// kept (they are small and few: one stats message each 250 ms).
func (r *Recorder) Add(event string, data []byte, t float64) {
	if !json.Valid(data) {
		return
	}
	if event == stream.MsgTrace && r.size+len(data) > MaxRaw {
		r.dropped++
		return
	}
	r.size += len(data)
	r.msgs = append(r.msgs, Message{T: t, Event: event, Data: bytes.Clone(data)})
}

// Len returns the number of messages kept.
func (r *Recorder) Len() int { return len(r.msgs) }

// Recording returns what was recorded, on machine m.
func (r *Recorder) Recording(m Machine) Recording {
	return Recording{Version: Version, Machine: m, Messages: append([]Message(nil), r.msgs...), DroppedTraces: r.dropped}
}

// Encode returns the recording compressed, within MaxEncoded: while it
// does not fit, every other trace message is dropped.
func (rec Recording) Encode() ([]byte, error) {
	for {
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		w.Write(raw)
		w.Close()
		if buf.Len() <= MaxEncoded {
			return buf.Bytes(), nil
		}
		kept, dropped, traces := rec.Messages[:0:0], 0, 0
		for _, m := range rec.Messages {
			if m.Event == stream.MsgTrace {
				traces++
				if traces%2 == 0 {
					dropped++
					continue
				}
			}
			kept = append(kept, m)
		}
		if dropped == 0 {
			return nil, fmt.Errorf("recording: %d bytes compressed without its traces; the limit is %d", buf.Len(), MaxEncoded)
		}
		rec.Messages, rec.DroppedTraces = kept, rec.DroppedTraces+dropped
	}
}

// Decode reverses Encode, within MaxRaw decompressed.
func Decode(blob []byte) (Recording, error) {
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(blob)), MaxRaw*2+1))
	if err != nil {
		return Recording{}, fmt.Errorf("recording: not deflate data: %v", err)
	}
	if len(raw) > MaxRaw*2 {
		return Recording{}, errors.New("recording: inflates beyond its limit")
	}
	var rec Recording
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Recording{}, fmt.Errorf("recording: %v", err)
	}
	if rec.Version != Version {
		return Recording{}, fmt.Errorf("recording: version %d; this page reads version %d", rec.Version, Version)
	}
	return rec, nil
}
