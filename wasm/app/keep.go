//go:build js && wasm

package main

import (
	"encoding/json"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The person's work survives a reload (one the page itself advises when a
// handler on the page loop never returns): every edit of the source or
// the form keeps the experiment in the browser's localStorage, and the
// browser settings beside it; a load restores them. A link (/p/<id> or
// #x=) wins over the kept experiment, which it leaves alone until the
// person edits what the link opened: that edit makes it theirs, kept in
// its turn, and the address stops naming the link, so a reload shows the
// edit rather than the link's original.

// Storage keys, beside www/app.js's "mpmlab-theme".
const (
	keptExperiment = "mpmlab-experiment" // the experiment's JSON
	keptBrowser    = "mpmlab-browser"    // {"model": "worker-pool", "workers": "2"}
)

// browserSettings are the "In the browser" controls.
type browserSettings struct {
	Model   string `json:"model"`
	Workers string `json:"workers"`
}

// storeItem sets a localStorage item, ignoring a refusal (a full quota):
// keeping is a convenience, never an error.
func storeItem(key, value string) {
	defer func() { recover() }() // the js.Error of an exception in setItem
	global.Get("localStorage").Call("setItem", key, value)
}

// storedItem returns a localStorage item, "" if there is none.
func storedItem(key string) string {
	if item := global.Get("localStorage").Call("getItem", key); item.Truthy() {
		return item.String()
	}
	return ""
}

// keep stores the page's experiment (a form that does not parse keeps the
// last one that did).
func (a *app) keep() {
	e, err := a.experiment()
	if err != nil {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		storeItem(keptExperiment, string(b))
	}
}

// restoreKept shows the kept experiment, if there is one that decodes.
func (a *app) restoreKept() bool {
	data := storedItem(keptExperiment)
	if data == "" {
		return false
	}
	e, err := experiment.Unmarshal([]byte(data))
	if err != nil { // kept by another version of the page
		return false
	}
	a.apply(e)
	return true
}

// dropLink makes the address "/" when it names a link (/p/<id>, #x=) whose
// experiment the person has just changed.
func dropLink() {
	loc := global.Get("location")
	if strings.HasPrefix(loc.Get("pathname").String(), "/p/") || strings.HasPrefix(loc.Get("hash").String(), "#x=") {
		global.Get("history").Call("replaceState", nil, "", "/")
	}
}

// keepBrowser stores the browser settings.
func keepBrowser() {
	b, _ := json.Marshal(browserSettings{
		Model:   byID("browser-model").Get("value").String(),
		Workers: byID("browser-workers").Get("value").String(),
	})
	storeItem(keptBrowser, string(b))
}

// restoreBrowser sets the browser settings kept, if any (a model the menu
// no longer has leaves the menu as it is).
func restoreBrowser() {
	var s browserSettings
	if json.Unmarshal([]byte(storedItem(keptBrowser)), &s) != nil {
		return
	}
	sel := byID("browser-model")
	if s.Model != "" {
		old := sel.Get("value").String()
		sel.Set("value", s.Model)
		if sel.Get("value").String() == "" {
			sel.Set("value", old)
		}
	}
	if s.Workers != "" {
		byID("browser-workers").Set("value", s.Workers)
	}
}
