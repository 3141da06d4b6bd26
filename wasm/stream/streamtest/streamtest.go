// Package streamtest checks a run's event stream against the schema in
// wasm/stream and against what the page reads of it. The tests that
// record a real run (cmd/mpmlab's TestStreamSchema) and the tests that
// replay a recorded one into the live view (wasm/app/internal/live) use
// it, so that renaming a field of the schema, or a host that stops
// sending one the view draws, fails a test instead of blanking a chart.
//
//	err := streamtest.Check(msgs) // msgs: every message of a run, in order
//
// # Notes
//
//   - ViewReads and EventReads name fields by their JSON names — the
//     wire format and the format of recorded runs in shares — not by their
//     Go names: a field renamed in Go keeps working, a JSON name changed
//     is a break of old recordings and fails.
//   - A path is satisfied when some message (or trace event) of its kind
//     has the key: fields with omitempty are then non-zero. The run the
//     checks read must exercise each (see TestStreamSchema's handler).
//   - It depends on the standard library only, as wasm/stream does.
package streamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Message is one message of a run's stream: its name and its data, as a
// recording keeps it (record.Message has the same fields).
type Message struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// ViewReads lists, for each message, the JSON paths of its data that the
// page reads (wasm/app's run.go and the live view): "a.b" is key b of
// object a, "a[].b" key b of any element of array a.
var ViewReads = map[string][]string{
	stream.MsgPhase: {"model", "state"},
	stream.MsgStats: {"model", "t_ms", "rps", "ok", "errors", "p50_ms", "p90_ms", "p99_ms",
		"lag_p99_ms", "loop_util", "queue", "workers", "busy", "scoreboard",
		"conns.reading", "conns.writing", "conns.waiting",
		"histogram[].le_ms", "histogram[].count",
		"groups[].name", "groups[].rps", "groups[].ok", "groups[].errors", "groups[].p50_ms", "groups[].p99_ms"},
	stream.MsgSummary: {"model", "rss_kb", "sentence",
		"summary.requests", "summary.succeeded", "summary.rps", "summary.status_codes",
		"summary.latency.min_ns", "summary.latency.p50_ns", "summary.latency.p90_ns", "summary.latency.p99_ns",
		"summary.histogram[].le_ns", "summary.histogram[].count",
		"groups[].name", "groups[].sentence", "groups[].summary.requests", "groups[].summary.succeeded",
		"groups[].summary.rps", "groups[].summary.latency.p50_ns", "groups[].summary.latency.p90_ns",
		"groups[].summary.latency.p99_ns"},
	stream.MsgDone:  {"error"},
	stream.MsgTrace: {"events", "dropped"},
}

// EventReads lists, for each kind of trace event, the JSON keys the live
// view reads of it ("t", "kind", "process", "lane" always).
var EventReads = map[string][]string{
	stream.EventSpawn:     {"pid"},
	stream.EventExit:      {"pid"},
	stream.EventConn:      {"conn"},
	stream.EventReqStart:  {"req", "conn", "method", "path", "group"},
	stream.EventReqRun:    {"req"},
	stream.EventReqEnd:    {"req", "status", "dur", "service", "group"},
	stream.EventState:     {"state"},
	stream.EventLag:       {"samples", "value"},
	stream.EventPass:      {"passes[].t", "passes[].dur", "passes[].segs[].req", "passes[].segs[].t", "passes[].segs[].dur", "passes[].segs[].kind", "passes[].segs[].where"},
	stream.EventPoolQueue: {"req", "task", "work"},
	stream.EventPoolStart: {"req", "task", "pool_thread"},
	stream.EventPoolDone:  {"req", "task", "pool_thread", "dur"},
	stream.EventPool:      {"pool_threads"},
}

// alwaysRead are the keys of every trace event the view reads.
var alwaysRead = []string{"t", "kind", "process", "lane"}

// Check decodes every message into its wasm/stream type, rejecting a key
// the type does not know (a field the schema lost, or a recording of a
// name since changed), and then reports each path of ViewReads and
// EventReads that no message had. It returns nil if all is well, else an
// error listing every problem.
func Check(msgs []Message) error {
	var problems []string
	seen := map[string]bool{} // "msg path" and "trace kind path"
	kinds := map[string]bool{}
	for i, m := range msgs {
		if err := decodeStrict(m); err != nil {
			problems = append(problems, fmt.Sprintf("message %d (%s): %v", i, m.Event, err))
			continue
		}
		var v any
		json.Unmarshal(m.Data, &v)
		for _, p := range ViewReads[m.Event] {
			if has(v, strings.Split(p, ".")) {
				seen[m.Event+" "+p] = true
			}
		}
		if m.Event != stream.MsgTrace {
			continue
		}
		evs, _ := v.(map[string]any)["events"].([]any)
		for _, e := range evs {
			kind, _ := e.(map[string]any)["kind"].(string)
			kinds[kind] = true
			for _, p := range append(slices.Clone(alwaysRead), EventReads[kind]...) {
				if has(e, strings.Split(p, ".")) {
					seen[kind+" "+p] = true
				}
			}
		}
	}
	for _, msg := range sortedKeys(ViewReads) {
		for _, p := range ViewReads[msg] {
			if !seen[msg+" "+p] {
				problems = append(problems, fmt.Sprintf("no %s message has %q, which the page reads", msg, p))
			}
		}
	}
	for _, kind := range sortedKeys(EventReads) {
		if !kinds[kind] {
			problems = append(problems, fmt.Sprintf("no %s trace event, which the view draws", kind))
			continue
		}
		for _, p := range append(slices.Clone(alwaysRead), EventReads[kind]...) {
			if !seen[kind+" "+p] {
				problems = append(problems, fmt.Sprintf("no %s trace event has %q, which the view reads", kind, p))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the stream does not match what the page reads:\n\t%s", strings.Join(problems, "\n\t"))
	}
	return nil
}

// Data returns a new value of the wasm/stream type of a message's data
// (nil for a message name the schema does not have).
func Data(name string) any {
	switch name {
	case stream.MsgProgress:
		return new(stream.Progress)
	case stream.MsgDiagnostics:
		return new(stream.Diagnostics)
	case stream.MsgPhase:
		return new(stream.Phase)
	case stream.MsgTrace:
		return new(stream.Trace)
	case stream.MsgStats:
		return new(stream.Stats)
	case stream.MsgSummary:
		return new(stream.Result)
	case stream.MsgDone:
		return new(stream.Done)
	}
	return nil
}

// decodeStrict decodes m's data into its type, refusing unknown keys.
func decodeStrict(m Message) error {
	v := Data(m.Event)
	if v == nil {
		return fmt.Errorf("no message %q in the schema", m.Event)
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// has reports whether v has the path: keys of objects, "k[]" any element
// of the array at key k.
func has(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	key, each := strings.CutSuffix(path[0], "[]")
	x, ok := obj[key]
	if !ok {
		return false
	}
	if !each {
		return has(x, path[1:])
	}
	arr, _ := x.([]any)
	for _, el := range arr {
		if has(el, path[1:]) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
