//go:build js && wasm

package main

import (
	"slices"
	"strings"
	"syscall/js"
)

// multipleH is the height of one run's timeline among the small multiples.
const multipleH = 120

// drawMultiples draws the timelines of the experiment's runs (a Compare's
// models or variants, in keys' order, those that ran) one under another
// on one time axis, the longest run's, so that the same instant is at the
// same place in each: where one model queues, another serves. A click on
// one shows its run in the live view. Nothing is drawn for fewer than two
// runs: the live view shows the one.
func (a *app) drawMultiples(keys []string) {
	box := byID("multiples")
	var runs []string
	span := 0.0
	for _, k := range keys {
		if v := a.views[k]; v != nil && v.T0 != 0 && !slices.Contains(runs, k) {
			runs = append(runs, k)
			span = max(span, v.OwnSpan())
		}
	}
	show(box, len(runs) >= 2)
	setData(box, "runs", strings.Join(runs, " "))
	if len(runs) < 2 {
		clearChildren(box)
		return
	}
	if box.Get("dataset").Get("built").String() != strings.Join(runs, " ") {
		clearChildren(box)
		for _, k := range runs {
			fig := create("figure", "multiple", "")
			setData(fig, "run", k)
			fig.Call("append", create("figcaption", "", k))
			c := create("canvas", "", "")
			c.Get("style").Set("height", itoa(multipleH)+"px")
			fig.Call("append", c)
			box.Call("append", fig)
			key := k
			on(fig, "click", func(js.Value) {
				if v := a.views[key]; v != nil && a.run == nil {
					a.selectView(key, v)
				}
			})
		}
		setData(box, "built", strings.Join(runs, " "))
	}
	figs := box.Call("querySelectorAll", "figure.multiple")
	for i := 0; i < figs.Length(); i++ {
		fig := figs.Index(i)
		v := a.views[fig.Get("dataset").Get("run").String()]
		if v == nil {
			continue
		}
		c := &canvas{el: query(fig, "canvas")}
		c.ctx = c.el.Call("getContext", "2d")
		v.SpanMS = span
		c.draw(v.Timeline(c.size()))
		v.SpanMS = 0
		setData(fig, "spanMs", ftoa(span, 0))
	}
}
