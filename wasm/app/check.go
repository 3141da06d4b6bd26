//go:build js && wasm

package main

import (
	"encoding/json"

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
	last   string // what was last checked (checkKey)
}

// edited restarts the pause: the source is checked once the person has
// stopped typing for experiment.CheckPause. An edit that changes what a
// check depends on (checkKey) makes what the line says of the last check
// stale at once, and drops that check's answer if it is still to come: a
// "Run starts at once" must be about the source in the editor.
func (c *checker) edited() {
	if c.cancel != nil {
		c.cancel()
	}
	if e, err := c.a.experiment(); err != nil || checkKey(e) != c.last {
		c.seq++
		c.last = ""
		if state := byID("check").Get("dataset").Get("state").String(); state == "ok" || state == "ready" {
			setCheck("", "")
		}
	}
	c.cancel = after(int(experiment.CheckPause.Milliseconds()), func() {
		c.cancel = nil
		c.check()
	})
}

// check builds the source unless it and the Run it would start are the
// ones last checked (a new model or new knobs start other workers
// ahead; the build of a source built before is a lookup). During a run
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
	key := checkKey(e)
	if key == c.last || !hostFound {
		return
	}
	c.last = key
	c.seq++
	seq := c.seq
	setCheck("building…", "")
	go func() {
		var res struct {
			ElapsedMS float64 `json:"elapsed_ms"`
			Cached    bool    `json:"cached"`
		}
		// The whole experiment: the host also starts the first workers
		// of its Run ahead.
		err := call("POST", "/api/build", e, &res)
		if seq != c.seq || c.a.ed.Value() != e.Source.Files[c.a.main].Data {
			return // typed on meanwhile: a newer check follows
		}
		ae, _ := err.(*apiError)
		switch {
		case err == nil:
			c.a.ed.SetDiagnostics(nil)
			built := "builds ✓ (" + ftoa(res.ElapsedMS/1000, 1) + " s)"
			setCheck(built+" · compiling…", "ok")
			c.awaitCompiled(seq, e, built)
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
// machine code and started the Run's first workers ahead, that a Run will
// start at once (state "ready").
func (c *checker) awaitCompiled(seq int, e experiment.Experiment, built string) {
	var res struct {
		Compiled bool `json:"compiled"`
	}
	err := call("POST", "/api/build?wait=compiled", e, &res)
	if seq != c.seq || err != nil || !res.Compiled {
		return
	}
	setCheck(built+" · compiled: Run starts at once", "ready")
}

// checkKey is what a check depends on: the source, and the model and
// knobs of the Run whose workers it starts ahead (not its load).
func checkKey(e experiment.Experiment) string {
	run, _ := json.Marshal(struct {
		Model string
		Knobs experiment.Knobs
	}{e.Model, e.Knobs})
	return string(e.Source.Txtar()) + "\x00" + string(run)
}

// setCheck shows the latest check's outcome beside the editor.
func setCheck(msg, state string) {
	el := byID("check")
	setText(el, msg)
	el.Get("dataset").Set("state", state)
}
