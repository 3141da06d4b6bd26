//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// installModels puts experiment.ModelTable on the page, which names no
// model of its own: each model's colour as the CSS property --c-<name>
// (the view's palette and the swatches read it), its option in the Model
// menu, and its row in the compare table, before the browser's rows; the
// browser's rows get the swatch of the host model each resembles. It runs
// before anything reads the menu, the table or the palette.
func installModels() {
	root := document.Get("documentElement").Get("style")
	menu := byID("model")
	body := query(byID("compare-table"), "tbody")
	first := query(body, "tr.browser-row")
	for _, m := range experiment.ModelTable {
		root.Call("setProperty", "--c-"+m.Name, m.Color)
		opt := create("option", "", m.Title())
		opt.Set("value", m.Name)
		opt.Set("title", m.Help)
		menu.Call("appendChild", opt)

		tr := create("tr", "", "")
		tr.Set("id", "summary-"+m.Name)
		setData(tr, "model", m.Name)
		th := create("th", "", "")
		th.Call("append", modelSwatch(m.Name), m.Name)
		tr.Call("appendChild", th)
		for _, stat := range []string{"requests", "rps", "p50", "p90", "p99", "errors", "rss", "pss", "perconn", "sentence"} {
			text := "–"
			if stat == "sentence" {
				text = ""
			}
			td := create("td", "", text)
			setData(td, "stat", stat)
			tr.Call("appendChild", td)
		}
		body.Call("insertBefore", tr, first)
	}
	for _, m := range browserModels {
		if sw := query(byID("summary-"+m.id), "th i"); !sw.IsNull() {
			sw.Get("style").Set("background", "var(--c-"+m.analog+")")
		}
	}
}

// modelSwatch is a model's colour swatch, as the compare table shows it.
func modelSwatch(model string) js.Value {
	sw := create("i", "", "")
	sw.Get("style").Set("background", "var(--c-"+model+")")
	return sw
}
