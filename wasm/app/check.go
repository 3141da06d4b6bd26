//go:build js && wasm

package main

import (
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// checker builds the source on a pause in typing (POST /api/build): its
// errors show in the editor as the person types, and the build and the
// host's compile to machine code, which a Run would otherwise wait for,
// are done by the time Run is clicked.
//
// A background check never shows an error of its own (no host, a host
// that is busy): Run reports those. An answer that arrives after the
// source changed again is dropped.
type checker struct {
	a      *app
	cancel func() // the pending timer, or nil
	seq    int    // the latest check started
	last   string // the source last checked (its canonical txtar)
}

// edited restarts the pause: the source is checked once the person has
// stopped typing for experiment.CheckPause.
func (c *checker) edited() {
	if c.cancel != nil {
		c.cancel()
	}
	c.cancel = after(int(experiment.CheckPause.Milliseconds()), func() {
		c.cancel = nil
		c.check()
	})
}

// check builds the source unless it is the one last checked. During a run
// it waits for the run's end: a compile would take a core from the
// measurement.
func (c *checker) check() {
	if document.Get("body").Get("dataset").Get("running").String() == "1" {
		c.edited()
		return
	}
	e, err := c.a.experiment()
	if err != nil {
		return
	}
	src := string(e.Source.Txtar())
	if src == c.last || !hostFound {
		return
	}
	c.last = src
	c.seq++
	seq := c.seq
	setCheck("building…", "")
	go func() {
		var res struct {
			ElapsedMS float64 `json:"elapsed_ms"`
			Cached    bool    `json:"cached"`
		}
		err := call("POST", "/api/build", struct {
			Source experiment.Source `json:"source"`
		}{e.Source}, &res)
		if seq != c.seq || c.a.ed.Value() != e.Source.Files[c.a.main].Data {
			return // typed on meanwhile: a newer check follows
		}
		ae, _ := err.(*apiError)
		switch {
		case err == nil:
			c.a.ed.SetDiagnostics(nil)
			built := "builds ✓ (" + ftoa(res.ElapsedMS/1000, 1) + " s)"
			setCheck(built+" · compiling…", "ok")
			c.awaitCompiled(seq, e.Source, built)
		case ae != nil && len(ae.Diagnostics) > 0:
			c.a.ed.SetDiagnostics(ae.Diagnostics)
			n := len(ae.Diagnostics)
			setCheck("does not compile: "+plural(n, "error"), "error")
		default:
			c.last = "" // not an answer about the source: check it again next time
			setCheck("", "")
		}
	}()
}

// awaitCompiled says, once the host has compiled the checked source to
// machine code, that a Run will start at once (state "ready").
func (c *checker) awaitCompiled(seq int, src experiment.Source, built string) {
	var res struct {
		Compiled bool `json:"compiled"`
	}
	err := call("POST", "/api/build?wait=compiled", struct {
		Source experiment.Source `json:"source"`
	}{src}, &res)
	if seq != c.seq || err != nil || !res.Compiled {
		return
	}
	setCheck(built+" · compiled: Run starts at once", "ready")
}

// setCheck shows the latest check's outcome beside the editor.
func setCheck(msg, state string) {
	el := byID("check")
	setText(el, msg)
	el.Get("dataset").Set("state", state)
}
