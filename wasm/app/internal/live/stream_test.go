package live

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/experiment/record"
	"github.com/mpmlab/mpmlab/wasm/stream"
	"github.com/mpmlab/mpmlab/wasm/stream/streamtest"
)

// TestRecordedRun replays a real run's stream into a View, as a share's
// replay does: testdata/run.rec is a recording of cmd/mpmlab's
// TestStreamSchema (a reactor run of three groups: one holding the loop in
// guest.Compute, one on the thread pool, one fast), written with
// MPMLAB_STREAM_FIXTURE by a host built before wasm/stream existed (main
// at 67185e9). It stands for the recordings already in shares:
// it must still decode into wasm/stream's types with no key left over
// (a JSON name changed in the schema fails here), and the view must draw
// from it what the run did.
func TestRecordedRun(t *testing.T) {
	blob, err := os.ReadFile("testdata/run.rec")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []streamtest.Message
	for _, m := range rec.Messages {
		msgs = append(msgs, streamtest.Message{Event: m.Event, Data: m.Data})
	}
	if err := streamtest.Check(msgs); err != nil {
		t.Fatal(err)
	}

	// Into the view, as wasm/app's follow does.
	var v *View
	var sum stream.Result
	for _, m := range rec.Messages {
		switch m.Event {
		case stream.MsgPhase:
			var p stream.Phase
			mustDecode(t, m.Data, &p)
			if p.State == stream.PhaseStarting {
				v = New(p.Model)
				v.Groups = []string{"slow", "pool", "fast"}
			}
		case stream.MsgTrace:
			var tr stream.Trace
			mustDecode(t, m.Data, &tr)
			v.AddTrace(&tr)
		case stream.MsgStats:
			var s stream.Stats
			mustDecode(t, m.Data, &s)
			v.AddStats(&s)
		case stream.MsgSummary:
			mustDecode(t, m.Data, &sum)
		}
	}
	if v == nil || v.Model != "reactor" {
		t.Fatalf("no reactor view from the recording")
	}
	v.Stop()
	served, grouped := 0, 0
	for _, r := range v.Reqs {
		if r.Served > 0 && r.End > 0 && r.Status == 200 {
			served++
		}
		if r.Group >= 0 {
			grouped++
		}
	}
	compute := 0
	for _, s := range v.Segs {
		if s.Kind == stream.WorkCompute && s.Req >= 0 {
			compute++
		}
	}
	h, held := v.LongestHold()
	t.Logf("%d requests (%d served, %d in a group), %d passes, %d compute segments, longest hold %s, %d lag points, pool %+v, %d stats points",
		len(v.Reqs), served, grouped, len(v.Passes), compute, h.Text(), len(v.Lag), v.Pool, len(v.RPS))
	switch {
	case served == 0 || grouped == 0:
		t.Error("no request bar with its handler's start, its end and its group")
	case len(v.Passes) == 0 || compute == 0:
		t.Error("no loop pass with a compute segment of a request")
	case !held || h.Dur < HoldCallout*1e6:
		t.Errorf("no hold of the loop called out (longest %+v)", h)
	case len(v.Lag) == 0:
		t.Error("no loop lag")
	case v.Pool.Threads == 0 || v.Pool.Done == 0:
		t.Errorf("no thread pool: %+v", v.Pool)
	case len(v.RPS) == 0 || v.Stats.Conns == nil || len(v.Stats.Groups) != 3:
		t.Errorf("stats not drawn: %d points, last %+v", len(v.RPS), v.Stats)
	case sum.Summary == nil || sum.Summary.Requests == 0 || len(sum.Groups) != 3 || sum.LongestHold == nil:
		t.Errorf("summary %+v", sum)
	}
	if sc := v.Timeline(800, 300); len(sc.Rects) == 0 {
		t.Error("the timeline draws nothing")
	}
}

// mustDecode decodes a message as wasm/app's decode does.
func mustDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}
