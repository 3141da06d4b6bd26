//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
)

// bindRowSelect makes a click on a model's (or a variant's) row of the
// compare table show that run in the live view: its timeline, charts and
// whole-run percentiles, as they were when it ended. Compare runs the
// models one after another, and without this only the last one's
// timeline would be left to look at. The selected row is marked
// (data-selected).
func (a *app) bindRowSelect() {
	on(byID("compare-table"), "click", func(e js.Value) {
		t := e.Get("target")
		if !t.Truthy() || t.Get("closest").Type() != js.TypeFunction {
			return
		}
		row := t.Call("closest", "tr[data-model]")
		if row.IsNull() || row.Get("classList").Call("contains", "group-row").Bool() {
			return
		}
		if a.run != nil {
			return // the live view follows the run in progress
		}
		key := rowRunKey(row)
		v := a.views[key]
		if v == nil || v == a.view {
			return
		}
		a.selectView(key, v)
		rows := document.Call("querySelectorAll", "#compare-table tr[data-selected]")
		for i := 0; i < rows.Length(); i++ {
			rows.Index(i).Call("removeAttribute", "data-selected")
		}
		setData(row, "selected", "1")
	})
}

// selectView puts run key's view in the live panel: its timeline and
// charts, the numbers it ended with (its whole-run figures where it has
// them, as its compare row) and its spawns, exits and kills.
func (a *app) selectView(key string, v *live.View) {
	a.view = v
	setText(byID("live-model"), key)
	setData(byID("live"), "model", v.Model)
	if v.Stats.Model != "" {
		a.showStats(&v.Stats) // the run's last stats: queue, held, the loop's load
	}
	if f, ok := a.finals[v]; ok {
		a.showFinal(f)
	}
	if v.WorkersGone {
		a.showStopped(v)
	}
	a.showPool()
	clearChildren(byID("events"))
	clear(a.exited)
	a.logLifecycle(v.Lifecycle)
	show(byID("timeline-readout"), false)
	a.timelineH = 0
	v.Dirty = true
	a.queueDraw(true)
}

// rowRunKey is the run a compare row shows (runKey): its variant, or its
// model.
func rowRunKey(row js.Value) string {
	ds := row.Get("dataset")
	if v := ds.Get("variant"); v.Type() == js.TypeString && v.String() != "" {
		return v.String()
	}
	return ds.Get("model").String()
}
