//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The experiment form: the model, its knobs and the load profile. The
// fields are built from one table (names, limits, which model they belong
// to, help), so the form, the checks and a share's restore agree.

type fieldKind int

const (
	intField    fieldKind = iota
	optIntField           // a *int knob: empty is the default, 0 a value of its own
	boolField
	textField
	floatField
	methodField
)

type field struct {
	name  string // the JSON path, as in the API's error messages
	label string // what the form shows ("" : the path's last part)
	kind  fieldKind
	model string // the models it applies to, space-separated; "" for every model
	min   int
	max   int
	help  string

	intp    func(*experiment.Experiment) *int
	optIntp func(*experiment.Experiment) **int
	boolp   func(*experiment.Experiment) **bool
	textp   func(*experiment.Experiment) *string
	floatp  func(*experiment.Experiment) *float64

	input js.Value
	err   js.Value
}

// knobFields are the form's knobs: one per row of experiment.KnobTable.
func knobFields() []*field {
	var fs []*field
	for i := range experiment.KnobTable {
		k := &experiment.KnobTable[i]
		f := &field{name: "knobs." + k.Name, label: k.Label(), model: strings.Join(k.Models, " "), min: k.Min, max: k.Limit(),
			help: k.Title() + " (knobs." + k.Name + ", --" + k.Flag + ")"}
		switch {
		case k.Unit == experiment.Switch:
			f.kind = boolField
			f.boolp = func(e *experiment.Experiment) **bool { return k.On(&e.Knobs) }
		case k.Optional():
			f.kind = optIntField
			f.optIntp = func(e *experiment.Experiment) **int { return k.Opt(&e.Knobs) }
		default:
			f.kind = intField
			f.intp = func(e *experiment.Experiment) *int { return k.Int(&e.Knobs) }
		}
		fs = append(fs, f)
	}
	return fs
}

func loadFields() []*field {
	l := func(name, label string, lo, hi int, help string, p func(*experiment.Load) *int) *field {
		return &field{name: "load." + name, label: label, kind: intField, min: lo, max: hi, help: help,
			intp: func(e *experiment.Experiment) *int { return p(&e.Load) }}
	}
	return []*field{
		{name: "load.path", kind: textField, help: "the path every request asks for, e.g. /?ms=300",
			textp: func(e *experiment.Experiment) *string { return &e.Load.Path }},
		{name: "load.method", kind: methodField, help: "the request method",
			textp: func(e *experiment.Experiment) *string { return &e.Load.Method }},
		l("concurrency", "concurrency", 1, experiment.MaxClients, "clients sending at once (closed loop) or the most in flight (open loop); past 200, with a think time or a rate that bounds what they send", func(l *experiment.Load) *int { return &l.Concurrency }),
		l("requests", "requests", 0, experiment.MaxRequests, "stop after this many requests (0: use the duration)", func(l *experiment.Load) *int { return &l.Requests }),
		l("duration_ms", "duration (ms)", 0, experiment.MaxDurationMS, "stop after this long (ms; 0: use the request count)", func(l *experiment.Load) *int { return &l.DurationMS }),
		{name: "load.keepalive", label: "clients keep connections", kind: boolField,
			help:  "the clients' side of keep-alive: each client reuses its connection for its next request (the server's side is the KeepAlive knob: both must be on for a connection to carry more than one request)",
			boolp: func(e *experiment.Experiment) **bool { return &e.Load.KeepAlive }},
		l("think_ms", "think time (ms)", 0, experiment.MaxThinkMS, "closed loop: each client's pause between a response and its next request, on its kept connection (ms)", func(l *experiment.Load) *int { return &l.ThinkMS }),
		{name: "load.rate", label: "rate (req/s)", kind: floatField, max: experiment.MaxRate, help: "open loop: requests per second whatever the answers (0: closed loop)",
			floatp: func(e *experiment.Experiment) *float64 { return &e.Load.Rate }},
	}
}

// form is the experiment form.
type form struct {
	el, model, modelErr js.Value
	fields              []*field
	byName              map[string]*field
	groups              *groupEditor
	variants            js.Value // Compare's variants, a JSON object a line
	onChange            func()
}

func newForm() *form {
	f := &form{el: byID("experiment"), model: byID("model"), modelErr: byID("model-error"), byName: map[string]*field{}}
	build := func(box js.Value, fields []*field) {
		for _, fl := range fields {
			f.fields = append(f.fields, fl)
			f.byName[fl.name] = fl
			label := create("label", "field", "")
			if fl.model != "" {
				setData(label, "for", fl.model)
			}
			label.Set("title", fl.help)
			setData(label, "field", fl.name)
			text := fl.label
			if text == "" {
				text = fl.name[strings.IndexByte(fl.name, '.')+1:]
			}
			name := create("span", "name", "")
			appendBreakable(name, text)
			var in js.Value
			switch fl.kind {
			case methodField:
				in = document.Call("createElement", "select")
				for _, m := range []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"} {
					o := create("option", "", m)
					o.Set("value", m)
					in.Call("appendChild", o)
				}
			default:
				in = document.Call("createElement", "input")
				switch fl.kind {
				case intField, optIntField:
					in.Set("type", "number")
					in.Set("min", fl.min)
					in.Set("max", fl.max)
					in.Set("step", 1)
				case floatField:
					in.Set("type", "number")
					in.Set("min", 0)
					in.Set("max", fl.max)
					in.Set("step", "any")
				case boolField:
					in.Set("type", "checkbox")
					label.Get("classList").Call("add", "check")
				case textField:
					in.Set("type", "text")
					in.Set("spellcheck", false)
					in.Set("autocomplete", "off")
				}
			}
			in.Set("name", fl.name)
			in.Set("id", "f-"+strings.ReplaceAll(fl.name, ".", "-"))
			fl.input = in
			fl.err = create("small", "error", "")
			fl.err.Set("hidden", true)
			if fl.kind == boolField {
				label.Call("append", in, name)
			} else {
				label.Call("append", name, in)
			}
			label.Call("appendChild", fl.err)
			box.Call("appendChild", label)
			on(in, "input", func(js.Value) { f.clearErrors(); f.changed() })
			on(in, "change", func(js.Value) { f.normalize(fl); f.changed() })
		}
	}
	build(byID("knobs"), knobFields())
	build(byID("load"), loadFields())
	f.groups = newGroupEditor(f)
	f.variants = byID("variants")
	on(f.variants, "input", func(js.Value) { f.clearErrors(); f.changed() })
	on(f.model, "change", func(js.Value) {
		f.syncModel()
		f.changed()
	})
	return f
}

func (f *form) changed() {
	if f.onChange != nil {
		f.onChange()
	}
}

// syncModel shows the current model's knobs and the common ones.
func (f *form) syncModel() {
	setData(f.el, "model", f.model.Get("value").String())
}

// Set fills the form from e (normalized: every field shows its value).
// The Model menu names one model: an experiment of model "all" (Compare,
// from a share made through the API) shows the default model, and Compare
// runs it under all three.
func (f *form) Set(e experiment.Experiment) {
	e = e.Normalize()
	if e.Model == experiment.AllModels {
		e.Model = experiment.DefaultModel
	}
	f.model.Set("value", e.Model)
	f.syncModel()
	e.Load = f.groups.view(e.Load)
	f.setVariants(e.Variants)
	for _, fl := range f.fields {
		switch fl.kind {
		case intField:
			fl.input.Set("value", itoa(*fl.intp(&e)))
		case optIntField:
			fl.input.Set("value", itoa(**fl.optIntp(&e)))
		case floatField:
			fl.input.Set("value", strconv.FormatFloat(*fl.floatp(&e), 'f', -1, 64))
		case boolField:
			fl.input.Set("checked", experiment.On(*fl.boolp(&e)))
		case textField, methodField:
			fl.input.Set("value", *fl.textp(&e))
		}
	}
	f.clearErrors()
}

// Get reads the form into e (keeping e's source). A field that does not
// parse is an error naming it.
func (f *form) Get(e *experiment.Experiment) error {
	e.Model = f.model.Get("value").String()
	for _, fl := range f.fields {
		v := strings.TrimSpace(fl.input.Get("value").String())
		switch fl.kind {
		case intField, optIntField:
			n := 0
			if v != "" {
				var err error
				if n, err = strconv.Atoi(v); err != nil {
					return errors.New(fl.name + " " + strconv.Quote(v) + " is not a whole number")
				}
			}
			switch {
			case fl.kind == intField:
				*fl.intp(e) = n
			case v == "":
				*fl.optIntp(e) = nil // the default
			default:
				*fl.optIntp(e) = experiment.Int(n)
			}
		case floatField:
			x := 0.0
			if v != "" {
				var err error
				if x, err = strconv.ParseFloat(v, 64); err != nil {
					return errors.New(fl.name + " " + strconv.Quote(v) + " is not a number")
				}
			}
			*fl.floatp(e) = x
		case boolField:
			*fl.boolp(e) = experiment.Bool(fl.input.Get("checked").Bool())
		case textField, methodField:
			*fl.textp(e) = v
		}
	}
	if err := f.readVariants(e); err != nil {
		return err
	}
	return f.groups.read(&e.Load)
}

// setVariants shows Compare's variants, one JSON object a line.
func (f *form) setVariants(vs []experiment.Variant) {
	var lines []string
	for _, v := range vs {
		b, _ := json.Marshal(v)
		lines = append(lines, string(b))
	}
	f.variants.Set("value", strings.Join(lines, "\n"))
	count := ""
	if len(vs) > 0 {
		count = "(" + itoa(len(vs)) + ")"
	}
	setText(byID("variants-count"), count)
	byID("compare").Set("title", compareTitle(len(vs)))
}

// compareTitle says what Compare runs.
func compareTitle(variants int) string {
	if variants > 0 {
		return "Run the handler and load under each of the " + itoa(variants) + " variants (Compare variants, below the load), one after another"
	}
	return "Run the handler and load under each model in turn, and compare them"
}

// readVariants reads Compare's variants, a JSON object a line.
func (f *form) readVariants(e *experiment.Experiment) error {
	e.Variants = nil
	for i, line := range strings.Split(f.variants.Get("value").String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var v experiment.Variant
		if err := experiment.DecodeJSON(strings.NewReader(line), &v); err != nil {
			return errors.New("variants: line " + itoa(i+1) + ": " + err.Error())
		}
		e.Variants = append(e.Variants, v)
	}
	setText(byID("variants-count"), "")
	if n := len(e.Variants); n > 0 {
		setText(byID("variants-count"), "("+itoa(n)+")")
	}
	byID("compare").Set("title", compareTitle(len(e.Variants)))
	return nil
}

// ShowError shows an API or validation error next to the field it names
// ("load.concurrency 20000 out of range 1..10000"), and reports whether it
// named one.
func (f *form) ShowError(msg string) bool {
	name, _, _ := strings.Cut(msg, " ")
	name = strings.TrimSuffix(name, ":")
	if name == "model" {
		setText(f.modelErr, msg)
		show(f.modelErr, true)
		return true
	}
	// In a load of groups, the first group's fields are the load's own.
	if rest, ok := strings.CutPrefix(name, "load.groups[0]."); ok && rest != "name" {
		name = "load." + rest
	}
	if in, ok := f.groups.input(name); ok {
		// Marked here; the message shows where the caller shows others.
		in.Call("setAttribute", "aria-invalid", "true")
		in.Call("focus")
		return false
	}
	fl, ok := f.byName[name]
	if !ok {
		return false
	}
	setText(fl.err, msg)
	show(fl.err, true)
	fl.input.Call("setAttribute", "aria-invalid", "true")
	// A knob of another model is hidden: show every knob.
	if fl.model != "" && !slices.Contains(strings.Fields(fl.model), f.model.Get("value").String()) {
		setData(f.el, "model", experiment.AllModels)
	}
	fl.input.Call("focus")
	return true
}

func (f *form) clearErrors() {
	show(f.modelErr, false)
	f.groups.clearErrors()
	for _, fl := range f.fields {
		if !fl.err.Get("hidden").Bool() {
			show(fl.err, false)
			fl.input.Call("removeAttribute", "aria-invalid")
		}
	}
}

// normalize shows the value a number field stands for once it is
// committed: 0 or empty is the default (only empty for an optIntField,
// where 0 is a value), shown as its value, so that what the form shows is
// what a share restores.
func (f *form) normalize(fl *field) {
	// requests 0 with a duration means "until the duration ends".
	if (fl.kind != intField && fl.kind != optIntField) || fl.name == "load.requests" {
		return
	}
	if v := strings.TrimSpace(fl.input.Get("value").String()); v != "" && (v != "0" || fl.kind == optIntField) {
		return
	}
	var e experiment.Experiment
	if f.Get(&e) != nil {
		return
	}
	e = e.Normalize()
	if fl.kind == optIntField {
		fl.input.Set("value", itoa(**fl.optIntp(&e)))
		return
	}
	fl.input.Set("value", itoa(*fl.intp(&e)))
}

// SetNormalized shows the normalized form of the form's own values (after a
// share: the link restores exactly what the form then shows).
func (f *form) SetNormalized() {
	var e experiment.Experiment
	if f.Get(&e) == nil {
		f.Set(e)
	}
}

// appendBreakable appends s to el with a line-break opportunity (<wbr>)
// before each capital that follows a small letter, so that a directive as
// long as AsyncRequestWorkerFactor wraps where its words meet instead of
// being cut off.
func appendBreakable(el js.Value, s string) {
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z' {
			el.Call("append", s[start:i], document.Call("createElement", "wbr"))
			start = i
		}
	}
	el.Call("append", s[start:])
}
