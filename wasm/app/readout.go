//go:build js && wasm

package main

import (
	"encoding/json"
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
)

// bindReadout shows, under the pointer on the timeline, what the picture
// holds at that instant on that lane: how many requests were in flight
// and, on a loop, how many waited for it, were parked and held it; and the
// request whose bar is under the pointer, with its times. However many
// requests a lane had (past a dozen they are a band), the numbers at any
// instant are readable here. The readout stays after the pointer leaves,
// as a figure the person can read; its data-readout attribute holds the
// same as JSON (for the tests).
func (a *app) bindReadout() {
	el := byID("timeline-readout")
	on(a.timeline.el, "mousemove", func(e js.Value) {
		v := a.view
		if v == nil {
			return
		}
		r, ok := v.At(a.timeline.w, a.timeline.h, e.Get("offsetX").Float(), e.Get("offsetY").Float())
		if !ok {
			return
		}
		setText(el, readoutText(r))
		if b, err := json.Marshal(r); err == nil {
			setData(el, "readout", string(b))
		}
		show(el, true)
	})
}

// readoutText says a Readout in words: "at 1.23 s on loop 0: 200 in
// flight — 1 holding the loop, 199 parked, 0 waiting for it · GET /?ms=50
// (sleep): waited 0.1 ms, ran 0.2 ms, 51 ms in all, 200".
func readoutText(r live.Readout) string {
	var b strings.Builder
	b.WriteString("at " + live.FormatMS(r.AtMS) + " on " + r.Lane + ": " + itoa(r.Counts.InFlight) + " in flight")
	if r.Loop {
		b.WriteString(" — " + itoa(r.Counts.Holding) + " holding the loop, " + itoa(r.Counts.Parked) + " parked, " + itoa(r.Counts.Waiting) + " waiting for it")
	}
	if r.Listens {
		b.WriteString("; its process's listener held " + itoa(r.Listener) + " idle keep-alive connections (no thread each)")
	}
	if r.Queue > 0 {
		b.WriteString("; " + itoa(r.Queue) + " in the accept queue")
	}
	if q := r.Req; q != nil {
		b.WriteString(" · " + q.Label)
		if q.Group != "" {
			b.WriteString(" (" + q.Group + ")")
		}
		b.WriteString(":")
		switch {
		case q.Queue >= 0 && q.Accepted:
			b.WriteString(" " + live.FormatMS(q.Queue) + " in the accept queue,")
		case q.Queue >= 0:
			b.WriteString(" " + live.FormatMS(q.Queue) + " sent before it was read,")
		}
		if q.Accept > 0 {
			b.WriteString(" accepted " + live.FormatMS(q.Accept) + " before it was read,")
		}
		if r.Loop {
			b.WriteString(" waited " + live.FormatMS(q.Wait) + " for the loop, ran " + live.FormatMS(q.Run))
			if q.Where != "" {
				b.WriteString(" (longest at " + q.Where + ")")
			}
			b.WriteString(", parked " + live.FormatMS(q.Parked) + ",")
		}
		b.WriteString(" " + live.FormatMS(q.Total) + " in all")
		switch {
		case q.Status != 0:
			b.WriteString(", " + itoa(q.Status))
		case q.Failed:
			b.WriteString(", failed")
		}
	}
	return b.String()
}
