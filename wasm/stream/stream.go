// Package stream is the schema of a run's event stream: every message the
// host sends the page (GET /api/runs/{id}/events, playground/API.md), the
// trace events inside them, their kinds and lane states. The host's
// packages (models, playground, mpmlab run --trace), the recorder
// (wasm/experiment/record) and the page (wasm/app and its live view) all
// import it, so the two ends of the wire read one definition: a field
// renamed here is renamed on both sides, and a test that decodes a real
// run's stream (cmd/mpmlab's TestStreamSchema) fails if a field the view
// reads goes missing.
//
// A run's stream is a sequence of server-sent events, each a message name
// (Msg*) and its data, one of the types below as JSON:
//
//	progress    Progress      the build's progress
//	diagnostics Diagnostics   the handler does not compile
//	phase       Phase         a model starting, running, stopped
//	trace       Trace         a batch of trace Events
//	stats       Stats         the load's figures every 250 ms
//	summary     Result        what one model's run measured
//	done        Done          the last message
//
// # Notes
//
//   - It depends on the standard library only: the host builds it for
//     linux and the page for js/wasm, as http-wasm's api/handler is
//     imported by both its host and its guest.
//   - The JSON field names are the wire format and the format of recorded
//     runs in shares (wasm/experiment/record): a field may be added, but a
//     name changes only with SchemaVersion, and a recording made before
//     must still decode.
//   - Decoders on the page do not use DisallowUnknownFields: a newer host
//     may add fields.
package stream

import (
	"fmt"
)

// SchemaVersion is the version of Event's JSON form (Event.V). It changes
// when a field changes meaning or goes away; new fields may be added within
// a version.
//
// Version 2 (group added within it): req_start's path is the request URI
// (path and query); req_end carries the server-side phases (wait, service,
// run, compute, block, hold, where) and method and path; new kinds req_run
// (a handler starts), pass (a loop's busy stretches) and conns (a loop's
// connections by state, as nginx's stub_status counts them). Within
// version 2: the thread pool's kinds pool_queue, pool_start, pool_done,
// pool_overflow and pool, and their fields (Task, Work, PoolThread,
// Queued, PoolBusy, PoolThreads, PoolDone, Overflows).
const SchemaVersion = 2

// The names of the stream's messages (the SSE event field).
const (
	MsgProgress    = "progress"    // Progress
	MsgDiagnostics = "diagnostics" // Diagnostics
	MsgPhase       = "phase"       // Phase
	MsgTrace       = "trace"       // Trace
	MsgStats       = "stats"       // Stats
	MsgSummary     = "summary"     // Result
	MsgDone        = "done"        // Done
)

// Progress is a "progress" message: a line of the build's progress.
type Progress struct {
	Message string `json:"message"`
}

// Diagnostics is a "diagnostics" message: the handler does not compile.
type Diagnostics struct {
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// Diagnostic is one compiler message about a handler's source, located by
// file, line and column, ready for an editor to underline:
//
//	{"file": "main.go", "line": 5, "col": 2, "message": "undefined: nope"}
//
// Line and Col count from 1; Col is 0 when the go command gave no column
// (and Line is 0 when it gave no line).
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// String formats d the way the go command does: "main.go:5:2: undefined: nope",
// leaving out a zero column or line.
func (d Diagnostic) String() string {
	switch {
	case d.Line == 0:
		return fmt.Sprintf("%s: %s", d.File, d.Message)
	case d.Col == 0:
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Message)
}

// The states of a Phase: each model of a run is starting, then running,
// then stopped (stopped comes after its summary, once its workers are
// reaped; a model that could not start goes from starting to stopped with
// an Error).
const (
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseStopped  = "stopped"
)

// Phase is a "phase" message: a model's run changed state.
type Phase struct {
	Model   string `json:"model"`
	Variant string `json:"variant,omitempty"` // a Compare over variants: which
	State   string `json:"state"`             // PhaseStarting, PhaseRunning, PhaseStopped
	Error   string `json:"error,omitempty"`
}

// Done is the "done" message, the last of a stream.
type Done struct {
	// Error says why the experiment failed ("" if it did not).
	Error string `json:"error"`
	// Stopped says why it was stopped before its end, if it was.
	Stopped string `json:"stopped,omitempty"`
}

// Trace is a "trace" message: a batch of trace events, sorted by T.
type Trace struct {
	Events []Event `json:"events"`
	// Dropped counts the events left out of the batch (sampled away, or
	// the page did not keep up).
	Dropped int `json:"dropped"`
}
