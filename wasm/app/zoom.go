//go:build js && wasm

package main

import (
	"encoding/json"
	"math"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
)

// bindZoom lets a person zoom and pan the timeline as in a browser's
// performance panel: ctrl (or ⌘) and the wheel, or a trackpad's pinch,
// zoom about the pointer; dragging, or the wheel sideways, pans; a
// double-click shows the whole run again. Keys on the focused timeline do
// the same: + and − zoom, ← and → pan, 0 shows the whole run. The plain
// wheel still scrolls the page. #timeline-zoom says what stretch is shown;
// its data-zoom attribute holds the live.Zoom as JSON (for the tests).
func (a *app) bindZoom() {
	el := a.timeline.el
	el.Set("tabIndex", 0)
	zoom := func(x, factor float64) {
		if v := a.view; v != nil {
			v.ZoomAt(a.timeline.w, x, factor)
			a.zoomChanged(v)
		}
	}
	pan := func(dx float64) {
		if v := a.view; v != nil && v.Zoom.On() {
			v.Pan(a.timeline.w, dx)
			a.zoomChanged(v)
		}
	}
	on(el, "wheel", func(e js.Value) {
		dx, dy := e.Get("deltaX").Float(), e.Get("deltaY").Float()
		if e.Get("deltaMode").Int() == 1 { // lines
			dx, dy = dx*16, dy*16
		}
		switch {
		case e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool():
			e.Call("preventDefault")
			zoom(e.Get("offsetX").Float(), math.Exp(-dy*0.004))
		case math.Abs(dx) > math.Abs(dy) && a.view != nil && a.view.Zoom.On():
			e.Call("preventDefault")
			pan(-dx)
		}
	})
	dragging, lastX := false, 0.0
	on(el, "pointerdown", func(e js.Value) {
		if e.Get("button").Int() != 0 || a.view == nil || !a.view.Zoom.On() {
			return
		}
		dragging, lastX = true, e.Get("clientX").Float()
		// Captured, the drag goes on past the canvas's edge. (A synthetic
		// pointer cannot be captured: the drag then ends at the edge.)
		tryCall(el, "setPointerCapture", e.Get("pointerId"))
		el.Get("classList").Call("add", "panning")
	})
	on(el, "pointermove", func(e js.Value) {
		if !dragging {
			return
		}
		x := e.Get("clientX").Float()
		pan(x - lastX)
		lastX = x
	})
	stop := func(js.Value) {
		dragging = false
		el.Get("classList").Call("remove", "panning")
	}
	on(el, "pointerup", stop)
	on(el, "pointercancel", stop)
	on(el, "dblclick", func(js.Value) { a.resetZoom() })
	on(el, "keydown", func(e js.Value) {
		mid := a.timeline.w / 2
		switch e.Get("key").String() {
		case "+", "=":
			zoom(mid, 2)
		case "-", "_":
			zoom(mid, 0.5)
		case "ArrowLeft":
			pan(a.timeline.w / 8)
		case "ArrowRight":
			pan(-a.timeline.w / 8)
		case "0", "Escape":
			a.resetZoom()
		default:
			return
		}
		e.Call("preventDefault")
	})
	on(byID("zoom-reset"), "click", func(js.Value) { a.resetZoom() })
}

// resetZoom shows the whole run on the timeline.
func (a *app) resetZoom() {
	if v := a.view; v != nil {
		v.ResetZoom()
		a.zoomChanged(v)
	}
}

// zoomChanged redraws the timeline and says what it shows.
func (a *app) zoomChanged(v *live.View) {
	a.showZoom(v)
	a.queueDraw(false)
}

// showZoom says which stretch of the run the timeline shows, when it
// shows a part of it.
func (a *app) showZoom(v *live.View) {
	z := v.Zoom
	b, _ := json.Marshal(z)
	setData(byID("timeline-zoom"), "zoom", string(b))
	show(byID("timeline-zoom"), z.On())
	if z.On() {
		setText(byID("zoom-range"), "showing "+live.FormatMS(z.FromMS)+" to "+live.FormatMS(z.ToMS)+" of "+live.FormatMS(v.Span()))
	}
}

// tryCall calls v's method m, ignoring the exception it may throw.
func tryCall(v js.Value, m string, args ...any) {
	defer func() { _ = recover() }()
	v.Call(m, args...)
}
