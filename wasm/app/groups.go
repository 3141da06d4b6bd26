//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Load groups in the form. The load's own fields (path, method,
// concurrency, keepalive, think, rate) are the first group's; a name for
// it, and each further group as a row of its own, make the load a load of
// groups (experiment.Load.Groups), run at once and reported apart.
// Requests and duration then bound the whole load. A group's headers,
// body and own bounds, which the form does not show, are kept from the
// experiment the form last showed.

// groupRow is one group after the first.
type groupRow struct {
	el                                           js.Value
	name, method, path, concurrency, rate, think js.Value
	keepalive                                    js.Value
	kept                                         experiment.Group // what the row does not show
}

// groupEditor is the form's part for groups.
type groupEditor struct {
	f     *form
	name  js.Value // the first group's name
	list  js.Value // the rows
	rows  []*groupRow
	first experiment.Group // the first group's fields the form does not show
}

func newGroupEditor(f *form) *groupEditor {
	g := &groupEditor{f: f, list: create("div", "groups", "")}
	label := create("label", "field", "")
	label.Set("title", "the first group's name in reports and sentences (default: its method and path); name it, or add a group, to send several kinds of request at once")
	g.name = document.Call("createElement", "input")
	g.name.Set("id", "f-load-name")
	g.name.Set("name", "load.groups[0].name")
	g.name.Set("type", "text")
	g.name.Set("spellcheck", false)
	g.name.Set("placeholder", "GET /")
	label.Call("append", create("span", "name", "group name"), g.name)
	on(g.name, "input", func(js.Value) { f.clearErrors(); f.changed() })
	box := byID("load")
	box.Call("prepend", label)
	add := create("button", "add-group", "+ add a group")
	add.Set("type", "button")
	add.Set("id", "add-group")
	add.Set("title", "another kind of request, sent at the same time with its own arrival: fast requests beside slow ones")
	on(add, "click", func(js.Value) {
		g.addRow(experiment.Group{Load: experiment.Load{Method: "GET", Path: "/", Concurrency: experiment.DefaultConcurrency, KeepAlive: experiment.Bool(true)}})
		f.changed()
	})
	box.Get("parentNode").Call("append", g.list, add)
	return g
}

// addRow appends a row showing group gr.
func (g *groupEditor) addRow(gr experiment.Group) {
	r := &groupRow{el: create("div", "group-row fields", ""), kept: gr}
	i := len(g.rows) + 1
	input := func(name, typ, value, help string) js.Value {
		label := create("label", "field", "")
		label.Set("title", help)
		in := document.Call("createElement", "input")
		in.Set("type", typ)
		in.Set("name", "load.groups["+itoa(i)+"]."+name)
		if typ == "number" {
			in.Set("min", 0)
			in.Set("step", "any")
		}
		if typ == "checkbox" {
			label.Get("classList").Call("add", "check")
			in.Set("checked", value == "true")
			label.Call("append", in, create("span", "name", name))
		} else {
			in.Set("value", value)
			label.Call("append", create("span", "name", name), in)
		}
		on(in, "input", func(js.Value) { g.f.clearErrors(); g.f.changed() })
		r.el.Call("appendChild", label)
		return in
	}
	r.name = input("name", "text", gr.Name, "the group's name in reports and sentences (default: its method and path)")
	r.name.Set("placeholder", strings.TrimSpace(gr.Method+" "+gr.Path))
	r.method = input("method", "text", gr.Method, "the request method")
	r.path = input("path", "text", gr.Path, "the path this group's requests ask for, e.g. /hello")
	r.concurrency = input("concurrency", "number", itoa(gr.Concurrency), "clients sending at once (closed loop) or the most in flight (open loop)")
	r.rate = input("rate", "number", strconv.FormatFloat(gr.Rate, 'f', -1, 64), "open loop: requests per second whatever the answers (0: closed loop)")
	r.think = input("think_ms", "number", itoa(gr.ThinkMS), "closed loop: each client's pause between requests (ms)")
	r.keepalive = input("keepalive", "checkbox", strconv.FormatBool(experiment.On(gr.KeepAlive)), "clients reuse connections")
	remove := create("button", "remove-group", "×")
	remove.Set("type", "button")
	remove.Set("title", "remove this group")
	on(remove, "click", func(js.Value) {
		for j, x := range g.rows {
			if x == r {
				g.rows = append(g.rows[:j], g.rows[j+1:]...)
			}
		}
		r.el.Call("remove")
		g.renumber()
		g.f.changed()
	})
	r.el.Call("appendChild", remove)
	g.rows = append(g.rows, r)
	g.list.Call("appendChild", r.el)
}

// renumber names each row's inputs after its index, as the API's errors
// name them ("load.groups[2].rate").
func (g *groupEditor) renumber() {
	for i, r := range g.rows {
		for _, p := range []struct {
			in   js.Value
			name string
		}{{r.name, "name"}, {r.method, "method"}, {r.path, "path"}, {r.concurrency, "concurrency"}, {r.rate, "rate"}, {r.think, "think_ms"}, {r.keepalive, "keepalive"}} {
			p.in.Set("name", "load.groups["+itoa(i+1)+"]."+p.name)
		}
	}
}

// view returns the load as the form's own fields show it: a load of groups
// shows its first group there, and the whole load's bounds.
func (g *groupEditor) view(l experiment.Load) experiment.Load {
	for _, r := range g.rows {
		r.el.Call("remove")
	}
	g.rows = nil
	g.first = experiment.Group{}
	g.name.Set("value", "")
	if len(l.Groups) == 0 {
		return l
	}
	g.first = l.Groups[0]
	g.name.Set("value", l.Groups[0].Name)
	for _, gr := range l.Groups[1:] {
		g.addRow(gr)
	}
	v := l.Groups[0].Load
	v.Requests, v.DurationMS = l.Requests, l.DurationMS
	return v
}

// read turns the form's own load fields (in l) and the rows into the load:
// one without groups when there is no row and no name.
func (g *groupEditor) read(l *experiment.Load) error {
	name := strings.TrimSpace(g.name.Get("value").String())
	if len(g.rows) == 0 && name == "" {
		return nil
	}
	first := g.first
	first.Name = name
	first.Load = experiment.Load{Path: l.Path, Method: l.Method, Concurrency: l.Concurrency, KeepAlive: l.KeepAlive, ThinkMS: l.ThinkMS, Rate: l.Rate,
		Headers: g.first.Headers, Body: g.first.Body, Requests: g.first.Requests, DurationMS: g.first.DurationMS}
	groups := []experiment.Group{first}
	for i, r := range g.rows {
		gr := r.kept
		gr.Name = strings.TrimSpace(r.name.Get("value").String())
		gr.Method = strings.ToUpper(strings.TrimSpace(r.method.Get("value").String()))
		gr.Path = strings.TrimSpace(r.path.Get("value").String())
		field := "load.groups[" + itoa(i+1) + "]."
		var err error
		if gr.Concurrency, err = atoiField(field+"concurrency", r.concurrency); err != nil {
			return err
		}
		if gr.ThinkMS, err = atoiField(field+"think_ms", r.think); err != nil {
			return err
		}
		v := strings.TrimSpace(r.rate.Get("value").String())
		gr.Rate = 0
		if v != "" {
			if gr.Rate, err = strconv.ParseFloat(v, 64); err != nil {
				return fieldError(field + "rate " + strconv.Quote(v) + " is not a number")
			}
		}
		gr.KeepAlive = experiment.Bool(r.keepalive.Get("checked").Bool())
		groups = append(groups, gr)
	}
	*l = experiment.Load{Requests: l.Requests, DurationMS: l.DurationMS, Groups: groups}
	return nil
}

// input returns the input an error names ("load.groups[2].rate"), if a
// row shows it.
func (g *groupEditor) input(name string) (js.Value, bool) {
	if name == "load.groups[0].name" {
		return g.name, true
	}
	for i, r := range g.rows {
		prefix := "load.groups[" + itoa(i+1) + "]."
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		switch strings.TrimPrefix(name, prefix) {
		case "name":
			return r.name, true
		case "method":
			return r.method, true
		case "path":
			return r.path, true
		case "concurrency":
			return r.concurrency, true
		case "rate":
			return r.rate, true
		case "think_ms":
			return r.think, true
		case "keepalive":
			return r.keepalive, true
		}
	}
	return js.Value{}, false
}

// clearErrors unmarks every group input an error marked.
func (g *groupEditor) clearErrors() {
	g.name.Call("removeAttribute", "aria-invalid")
	for _, r := range g.rows {
		for _, in := range []js.Value{r.name, r.method, r.path, r.concurrency, r.rate, r.think} {
			in.Call("removeAttribute", "aria-invalid")
		}
	}
}

type fieldError string

func (e fieldError) Error() string { return string(e) }

func atoiField(name string, in js.Value) (int, error) {
	v := strings.TrimSpace(in.Get("value").String())
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fieldError(name + " " + strconv.Quote(v) + " is not a whole number")
	}
	return n, nil
}
