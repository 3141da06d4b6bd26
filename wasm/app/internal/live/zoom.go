package live

import "math"

// Zoom is the stretch of the run the timeline shows, in ms since the
// view's start. The zero Zoom shows the whole run, growing with it; a set
// one stays where the person put it while the run goes on.
type Zoom struct {
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
}

// On reports whether z shows a part of the run rather than all of it.
func (z Zoom) On() bool { return z.ToMS > z.FromMS }

// minZoomMS is the narrowest stretch the timeline zooms to: a tenth of a
// millisecond, a few of a loop's passes.
const minZoomMS = 0.1

// window is the stretch the timeline shows: from, in ms since the start,
// and its length.
func (v *View) window() (from, span float64) {
	if v.Zoom.On() {
		return v.Zoom.FromMS, v.Zoom.ToMS - v.Zoom.FromMS
	}
	return 0, v.Span()
}

// ZoomAt zooms the timeline of width w by factor (above 1: in) about the
// instant under x, which stays under x, as a map zooms about the pointer.
// Zoomed out to the whole run or further, it shows the whole run again.
func (v *View) ZoomAt(w, x, factor float64) {
	if factor <= 0 {
		return
	}
	x0, x1, from, px := v.timeScale(w)
	x = math.Min(math.Max(x, x0), x1)
	at := from + (x-x0)/px // ms under the pointer
	span := math.Max((x1-x0)/px/factor, minZoomMS)
	if span >= v.Span() {
		v.ResetZoom()
		return
	}
	from = at - (x-x0)/(x1-x0)*span
	v.setZoom(from, span)
}

// Pan moves the zoomed timeline of width w by dx pixels: positive shows
// earlier time, as dragging the picture to the right does.
func (v *View) Pan(w, dx float64) {
	if !v.Zoom.On() {
		return
	}
	_, _, from, px := v.timeScale(w)
	v.setZoom(from-dx/px, v.Zoom.ToMS-v.Zoom.FromMS)
}

// ResetZoom shows the whole run again.
func (v *View) ResetZoom() {
	if v.Zoom.On() {
		v.Zoom = Zoom{}
		v.Dirty = true
	}
}

// setZoom shows span ms from from, kept within the run.
func (v *View) setZoom(from, span float64) {
	from = math.Min(math.Max(from, 0), math.Max(v.Span()-span, 0))
	v.Zoom = Zoom{FromMS: from, ToMS: from + span}
	v.Dirty = true
}
