//go:build js && wasm

package main

import (
	"regexp"
	"strconv"
	"syscall/js"
)

// blameRE finds the source position a blame names: "at main.go:22".
var blameRE = regexp.MustCompile(`\b([A-Za-z0-9_.-]+\.go):(\d+)\b`)

// showBlame writes text into el with each source position it names
// ("main.go:22") a link that selects that line in the editor, when it
// is the editor's file: the blame line jumps to the code it blames.
func (a *app) showBlame(el js.Value, text string) {
	if el.Get("textContent").String() == text {
		return
	}
	clearChildren(el)
	last := 0
	for _, m := range blameRE.FindAllStringSubmatchIndex(text, -1) {
		file, line := text[m[2]:m[3]], text[m[4]:m[5]]
		n, err := strconv.Atoi(line)
		if err != nil || len(a.files) == 0 || a.files[a.main].Name != file {
			continue
		}
		el.Call("append", text[last:m[0]])
		if n <= 0 {
			continue
		}
		link := create("a", "blame", text[m[0]:m[1]])
		link.Set("href", "#")
		setData(link, "line", line)
		link.Set("title", "show "+file+" line "+line+" in the editor")
		el.Call("append", link)
		last = m[1]
	}
	el.Call("append", text[last:])
}

// bindBlame makes a click on a blame link (showBlame) select its line in
// the editor: one listener on el, whatever links showBlame puts in it.
func (a *app) bindBlame(el js.Value) {
	on(el, "click", func(e js.Value) {
		t := e.Get("target")
		if !t.Truthy() || t.Get("closest").Type() != js.TypeFunction {
			return
		}
		link := t.Call("closest", "a.blame[data-line]")
		if link.IsNull() {
			return
		}
		e.Call("preventDefault")
		if n, err := strconv.Atoi(link.Get("dataset").Get("line").String()); err == nil {
			a.ed.selectLine(n)
		}
	})
}
