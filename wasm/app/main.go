//go:build js && wasm

// Command app is mpmlab's front end, compiled to WebAssembly (GOOS=js) and
// started by www/app.js. It owns the page's state and logic: the editor
// (highlighting and formatting in Go), the experiment form, runs and their
// live view from the server's event stream, the compare table, shares,
// the try-a-request panel, and the experiment kept across reloads
// (keep.go). www/index.html declares the page; this program
// binds to its elements by id.
//
// It speaks the API of playground/API.md through the browser's fetch and
// EventSource, and shares the experiment type with the server
// (wasm/experiment), so a share restores exactly what was sent.
package main

import (
	"go/format"
	"go/scanner"
	"slices"
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// example is one entry of GET /api/examples: a source, and the knobs and
// load that show its point.
type example struct {
	Name    string            `json:"name"`
	Summary string            `json:"summary"`
	Watch   string            `json:"watch"` // what to look for, above the live view
	Source  experiment.Source `json:"source"`
	Knobs   experiment.Knobs  `json:"knobs"`
	Load    experiment.Load   `json:"load"`
	// Variants are what the example's Compare runs (none: the four models).
	Variants []experiment.Variant `json:"variants"`
}

type app struct {
	ed   *editor
	form *form

	// files is the handler's source; files[main] is the one in the editor
	// (the others, from an API-made share, travel unchanged).
	files    []experiment.File
	main     int
	examples []example

	check checker // builds the source on a pause in typing
	// env is the experiment's environment, kept as it came (a link's, a
	// kept one): the page has no editor for it.
	env map[string]string

	run        *run
	views      map[string]*live.View
	view       *live.View // the one on screen
	drawnView  *live.View // the view last drawn, and how many views have been (showLoop)
	drawnViews int
	summaries  map[string]string // compare row id → key of the experiment its row came from

	timeline, lagChart, rpsChart, histChart, overlay *canvas
	timelineH                                        float64
	dists                                            map[string]live.Dist
	finals                                           map[*live.View]final
	exited                                           map[int]bool          // pids whose exit is listed
	groupLast                                        map[string][2]float64 // each group's p50 and p99 shown last
	drawQueued, drawAll                              bool
}

func main() {
	installModels()
	a := &app{
		ed:        newEditor(),
		form:      newForm(),
		views:     map[string]*live.View{},
		summaries: map[string]string{},
		dists:     map[string]live.Dist{},
		finals:    map[*live.View]final{},
		exited:    map[int]bool{},
		groupLast: map[string][2]float64{},
		timeline:  newCanvas("timeline"),
		lagChart:  newCanvas("lag-chart"),
		rpsChart:  newCanvas("rps-chart"),
		histChart: newCanvas("hist-chart"),
		overlay:   newCanvas("overlay-chart"),
	}
	a.form.Set(experiment.Experiment{})
	a.ed.onChange = a.edited
	a.check.a = a
	a.form.onChange = a.edited
	a.bind()
	a.bindBrowser()
	a.bindHost()
	a.bindReadout()
	a.bindZoom()
	a.bindRowSelect()
	a.bindBlame(byID("hold-callout"))
	a.initTheme()
	go a.start()
	select {}
}

// start loads the examples and the experiment to show (a share, a
// fragment, the experiment kept from the last visit, or the hello
// example), then says the page is ready.
func (a *app) start() {
	status := byID("status")
	a.findHost()
	setText(status, "loading examples…")
	a.loadExamples()
	if !a.restore() && !a.restoreKept() {
		name := "hello"
		if !slices.ContainsFunc(a.examples, func(e example) bool { return e.Name == name }) && len(a.examples) > 0 {
			name = a.examples[0].Name
		}
		a.loadExample(name)
	}
	setText(status, "")
	body := document.Get("body")
	setData(body, "readyMs", ftoa(global.Get("performance").Call("now").Float(), 0))
	setData(body, "ready", "1")
	a.queueDraw(true)
	a.check.edited() // built before the first Run, too
}

// loadExamples fills the examples menu (GET /api/examples: the host's,
// or the share service's own list when the page has no host).
func (a *app) loadExamples() {
	if err := call("GET", "/api/examples", nil, &a.examples); err != nil {
		a.error(byID("run-error"), "examples: "+err.Error())
	}
	sel := byID("examples")
	for _, ex := range a.examples {
		summary := strings.TrimPrefix(ex.Summary, ex.Name+" ")
		o := create("option", "", ex.Name+" — "+shorten(summary, 60))
		o.Set("value", ex.Name)
		o.Set("title", ex.Summary)
		sel.Call("appendChild", o)
	}
}

// restore loads the experiment of a /p/<id> path or a #x= fragment.
func (a *app) restore() bool {
	loc := global.Get("location")
	path, hash := loc.Get("pathname").String(), loc.Get("hash").String()
	errEl := byID("restore-error")
	switch {
	case strings.HasPrefix(path, "/p/"):
		id := strings.TrimPrefix(path, "/p/")
		var e experiment.Experiment
		if err := call("GET", "/api/shares/"+id, nil, &e); err != nil {
			a.error(errEl, "could not open share "+id+": "+err.Error())
			return false
		}
		a.apply(e)
		a.restoreShared(e)
		return true
	case strings.HasPrefix(hash, "#x="):
		return a.restoreFragment()
	}
	return false
}

// restoreFragment loads the experiment of the page's #x= fragment. It is
// the page's link from then on: a /p/<id> path (left by a Share) becomes
// "/", so a reload shows the fragment's experiment too.
func (a *app) restoreFragment() bool {
	loc := global.Get("location")
	hash := loc.Get("hash").String()
	errEl := byID("restore-error")
	e, err := experiment.DecodeFragment(hash)
	if err != nil {
		a.error(errEl, "could not open this link: "+err.Error())
		return false
	}
	a.error(errEl, "")
	if strings.HasPrefix(loc.Get("pathname").String(), "/p/") {
		global.Get("history").Call("replaceState", nil, "", "/"+hash)
	}
	a.apply(e)
	// The fragment holds the experiment alone: say so where a short
	// link's recording would play.
	note := byID("recording-note")
	setText(note, "This link carries the experiment but no recording: nothing ran yet. Run it with Run on host or Run in browser; a short link (/p/…) also carries the sender's run.")
	show(note, true)
	return true
}

// apply puts an experiment in the editor and the form: a link's, or the
// one kept from the last visit (it keeps nothing itself: see keep.go).
func (a *app) apply(e experiment.Experiment) {
	a.files = slices.Clone(e.Source.Files)
	if len(a.files) == 0 {
		a.files = []experiment.File{{Name: "main.go"}}
	}
	a.main = max(0, slices.IndexFunc(a.files, func(f experiment.File) bool { return f.Name == "main.go" }))
	a.env = e.Env
	a.ed.SetValue(a.files[a.main].Data)
	a.form.Set(e)
	a.changed()
}

// matchExample selects the example whose source is the editor's, if any:
// an edit away from an example's source shows "(your own)", and undoing it
// names the example again.
func (a *app) matchExample() {
	name := ""
	files := slices.Clone(a.files)
	if len(files) > 0 {
		files[a.main].Data = a.ed.Value()
	}
	for _, ex := range a.examples {
		if slices.Equal(ex.Source.Files, files) { // an example's data files too (files)
			name = ex.Name
		}
	}
	if sel := byID("examples"); sel.Get("value").String() != name {
		sel.Set("value", name)
		a.showSummary(name)
	}
}

func (a *app) showSummary(name string) {
	s, watch := "", ""
	for _, ex := range a.examples {
		if ex.Name == name {
			s, watch = ex.Summary, ex.Watch
		}
	}
	setText(byID("example-summary"), s)
	setText(byID("watch"), watch)
	show(byID("watch"), watch != "")
}

// loadExample puts an example in the editor, and its knobs and load in the
// form (the Model menu stays as it is).
func (a *app) loadExample(name string) {
	for _, ex := range a.examples {
		if ex.Name == name {
			a.files = slices.Clone(ex.Source.Files)
			a.env = nil
			a.main = max(0, slices.IndexFunc(a.files, func(f experiment.File) bool { return f.Name == "main.go" }))
			a.ed.SetValue(a.files[a.main].Data)
			a.form.Set(experiment.Experiment{Model: a.form.model.Get("value").String(), Knobs: ex.Knobs, Load: ex.Load, Variants: ex.Variants})
			byID("examples").Set("value", name)
			a.showSummary(name)
			a.changed()
			return
		}
	}
}

// experiment is the experiment the page shows.
func (a *app) experiment() (experiment.Experiment, error) {
	var e experiment.Experiment
	files := slices.Clone(a.files)
	if len(files) == 0 {
		files = []experiment.File{{Name: "main.go"}}
	}
	files[a.main].Data = a.ed.Value()
	e.Source.Files = files
	e.Env = a.env
	err := a.form.Get(&e)
	return e, err
}

// changed runs whenever the page shows another experiment: the share
// links no longer describe it, and the Example menu names the example only
// while the editor holds its source.
func (a *app) changed() {
	show(byID("share-panel"), false)
	a.matchExample()
}

// edited runs on every change the person makes to the source or the form,
// and on their picking an example: the experiment is theirs, kept for the
// next visit, and the address no longer names a link.
func (a *app) edited() {
	a.changed()
	a.keep()
	dropLink()
	a.check.edited()
}

// bind wires the buttons and the keyboard.
func (a *app) bind() {
	on(byID("run"), "click", func(js.Value) { a.startRun(false) })
	on(byID("compare"), "click", func(js.Value) { a.startRun(true) })
	on(byID("stop"), "click", func(js.Value) { a.stopRun() })
	on(byID("format"), "click", func(js.Value) { a.format() })
	on(byID("share"), "click", func(js.Value) { a.share() })
	on(byID("examples"), "change", func(e js.Value) {
		if name := e.Get("target").Get("value").String(); name != "" {
			a.loadExample(name)
			a.edited() // the person's choice: kept
		}
	})
	on(document, "keydown", func(e js.Value) {
		mod := e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool()
		if !mod {
			return
		}
		key := strings.ToLower(e.Get("key").String())
		shift := e.Get("shiftKey").Bool()
		switch {
		case key == "enter":
			e.Call("preventDefault")
			a.startRun(false)
		case key == "s" && !shift:
			e.Call("preventDefault")
			a.share()
		case key == "f" && shift:
			e.Call("preventDefault")
			a.format()
		}
	})
	// A #x= link followed in this tab (after a Share the path is
	// /p/<id>: the fragment wins). restoreFragment does not wait, but
	// nothing in an event callback may: it runs in a goroutine.
	on(global.Get("window"), "hashchange", func(js.Value) {
		if strings.HasPrefix(global.Get("location").Get("hash").String(), "#x=") {
			go a.restoreFragment()
		}
	})
	for _, id := range []string{"copy-url", "copy-fragment"} {
		btn := byID(id)
		on(btn, "click", func(js.Value) { copyInput(btn) })
	}
	on(byID("try-form"), "submit", func(e js.Value) {
		e.Call("preventDefault")
		a.try()
	})
	on(byID("experiment"), "submit", func(e js.Value) {
		e.Call("preventDefault")
		a.startRun(false)
	})
	ro := global.Get("ResizeObserver")
	if ro.Truthy() {
		fn := js.FuncOf(func(js.Value, []js.Value) any { a.queueDraw(true); return nil })
		funcs = append(funcs, fn)
		obs := ro.New(fn)
		obs.Call("observe", byID("live"))
		obs.Call("observe", byID("compare-view"))
	}
}

// format runs go/format on the editor's text, in the browser.
func (a *app) format() {
	src := a.ed.Value()
	out, err := format.Source([]byte(src))
	if err != nil {
		var diags []stream.Diagnostic
		if list, ok := err.(scanner.ErrorList); ok {
			for _, e := range list {
				diags = append(diags, stream.Diagnostic{File: a.files[a.main].Name, Line: e.Pos.Line, Col: e.Pos.Column, Message: e.Msg})
			}
		} else {
			diags = []stream.Diagnostic{{File: a.files[a.main].Name, Line: 1, Message: err.Error()}}
		}
		a.ed.SetDiagnostics(diags)
		setText(byID("status"), "format: the source does not parse")
		return
	}
	a.ed.SetDiagnostics(nil)
	a.ed.Replace(string(out))
	setText(byID("status"), "formatted")
}

// error shows msg in el (an error slot near the control that caused it).
func (a *app) error(el js.Value, msg string) {
	setText(el, msg)
	show(el, msg != "")
}

// copyInput copies the value of the input before btn.
func copyInput(btn js.Value) {
	in := btn.Get("previousElementSibling")
	text := in.Get("value").String()
	done := func() {
		setText(btn, "Copied")
		after(1500, func() { setText(btn, "Copy") })
	}
	clip := global.Get("navigator").Get("clipboard")
	if clip.Truthy() {
		go func() {
			if _, err := await(clip.Call("writeText", text)); err == nil {
				done()
				return
			}
			in.Call("select")
			document.Call("execCommand", "copy")
			done()
		}()
		return
	}
	in.Call("select")
	document.Call("execCommand", "copy")
	done()
}

// Theme: "auto" follows the system; the toggle cycles auto, light, dark and
// is remembered. www/app.js applies a remembered choice before first paint.
func (a *app) initTheme() {
	btn := byID("theme")
	root := document.Get("documentElement")
	label := func() {
		t := root.Get("dataset").Get("theme")
		name := "auto"
		if t.Truthy() {
			name = t.String()
		}
		btn.Set("title", "Theme: "+name+" (click to change)")
		setData(btn, "theme", name)
	}
	label()
	loadPalette()
	on(btn, "click", func(js.Value) {
		next := map[string]string{"auto": "light", "light": "dark", "dark": "auto"}[btn.Get("dataset").Get("theme").String()]
		store := global.Get("localStorage")
		if next == "auto" {
			root.Get("dataset").Delete("theme")
			store.Call("removeItem", "mpmlab-theme")
		} else {
			setData(root, "theme", next)
			store.Call("setItem", "mpmlab-theme", next)
		}
		label()
		loadPalette()
		a.queueDraw(true)
	})
	mq := global.Call("matchMedia", "(prefers-color-scheme: dark)")
	on(mq, "change", func(js.Value) {
		loadPalette()
		a.queueDraw(true)
	})
}

// shorten cuts s at a word boundary to about n bytes, with an ellipsis.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
	}
	return strings.TrimRight(s[:cut], " ,.:;") + "…"
}
