//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/highlight"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// editor is the source editor: a <textarea> with transparent text over a
// <pre> that shows the same text highlighted, a gutter of line numbers with
// diagnostic markers, and a list of the diagnostics.
//
// The textarea scrolls itself; the highlight and the gutter hold only the
// lines in view (and a margin), moved with a transform on every scroll
// event. So a keystroke costs one highlight of the whole source (a few
// milliseconds at 64 KiB, in Go) and a small innerHTML, however long the
// source is.
type editor struct {
	root, ta, pre, preBox, gutter, gutterBox, numbers, list js.Value

	html        []byte // the whole source highlighted
	offs        []int  // offs[i]: where line i starts in html; a last entry at its end
	lines       int
	first, last int // the lines the highlight holds: [first, last)
	queued      bool
	escaped     bool // the last key was Escape: let Tab leave the editor
	diags       []stream.Diagnostic
	onChange    func()
}

// Geometry, as in www/style.css (.editor --lh and --pad).
const (
	lineHeight = 20
	editorPad  = 8
	lineMargin = 40 // lines held above and below the view
)

func newEditor() *editor {
	ed := &editor{
		root:      byID("editor"),
		ta:        byID("source"),
		pre:       byID("highlight"),
		preBox:    byID("code-inner"),
		gutter:    byID("gutter"),
		gutterBox: byID("gutter-inner"),
		numbers:   byID("numbers"),
		list:      byID("diagnostics"),
	}
	on(ed.ta, "input", func(js.Value) {
		ed.schedule()
		if ed.onChange != nil {
			ed.onChange()
		}
	})
	on(ed.ta, "scroll", func(js.Value) { ed.render(false) })
	on(ed.ta, "keydown", ed.keydown)
	// One listener for the list's links, whatever SetDiagnostics puts in
	// it: a link carries its line in data-line.
	on(ed.list, "click", func(e js.Value) {
		t := e.Get("target")
		if !t.Truthy() || t.Get("closest").Type() != js.TypeFunction {
			return
		}
		link := t.Call("closest", "a[data-line]")
		if link.IsNull() || !ed.list.Call("contains", link).Bool() {
			return
		}
		e.Call("preventDefault")
		if n, err := strconv.Atoi(link.Get("dataset").Get("line").String()); err == nil {
			ed.selectLine(n)
		}
	})
	return ed
}

func (ed *editor) Value() string { return ed.ta.Get("value").String() }

// SetValue replaces the text (and the undo history) and clears the
// diagnostics.
func (ed *editor) SetValue(s string) {
	ed.ta.Set("value", s)
	ed.ta.Set("scrollTop", 0)
	ed.ta.Set("scrollLeft", 0)
	ed.SetDiagnostics(nil)
	ed.render(true)
}

// Replace replaces the whole text as an edit the user can undo.
func (ed *editor) Replace(s string) {
	if s == ed.Value() {
		return
	}
	top := ed.ta.Get("scrollTop")
	ed.ta.Call("focus")
	ed.ta.Call("select")
	if !document.Call("execCommand", "insertText", false, s).Truthy() {
		ed.ta.Set("value", s)
	}
	ed.ta.Call("setSelectionRange", 0, 0)
	ed.ta.Set("scrollTop", top)
	ed.render(true)
}

func (ed *editor) keydown(e js.Value) {
	key := e.Get("key").String()
	defer func() { ed.escaped = key == "Escape" }()
	if key != "Tab" || ed.escaped || e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool() || e.Get("altKey").Bool() || e.Get("shiftKey").Bool() {
		return
	}
	e.Call("preventDefault")
	// insertText keeps the undo history; setRangeText is the fallback.
	if !document.Call("execCommand", "insertText", false, "\t").Truthy() {
		start, end := ed.ta.Get("selectionStart").Int(), ed.ta.Get("selectionEnd").Int()
		ed.ta.Call("setRangeText", "\t", start, end, "end")
		ed.schedule()
	}
}

// schedule re-highlights on the next animation frame: keystrokes within a
// frame cost one highlight.
func (ed *editor) schedule() {
	if ed.queued {
		return
	}
	ed.queued = true
	raf(func() {
		ed.queued = false
		ed.render(true)
	})
}

// render shows the lines in view: after an edit (changed) it highlights the
// text again; after a scroll it moves the highlight and the gutter, and
// refills them only if the view left the lines they hold.
func (ed *editor) render(changed bool) {
	if changed {
		ed.html, ed.offs = highlight.Go(ed.html[:0], []byte(ed.Value()), ed.offs)
		if n := len(ed.offs) - 1; n != ed.lines {
			ed.lines = n
			ed.root.Get("style").Call("setProperty", "--digits", strconv.Itoa(len(strconv.Itoa(n))))
		}
	}
	top, left := ed.ta.Get("scrollTop").Float(), ed.ta.Get("scrollLeft").Float()
	height := ed.ta.Get("clientHeight").Float()
	vFirst := max(0, int((top-editorPad)/lineHeight))
	vLast := min(ed.lines, int((top+height)/lineHeight)+1)
	if changed || vFirst < ed.first || vLast > ed.last {
		ed.first = max(0, vFirst-lineMargin)
		ed.last = min(ed.lines, vLast+lineMargin)
		ed.pre.Set("innerHTML", string(ed.html[ed.offs[ed.first]:ed.offs[ed.last]]))
		var b strings.Builder
		for i := ed.first + 1; i <= ed.last; i++ {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte('\n')
		}
		setText(ed.numbers, b.String())
		ed.root.Get("style").Call("setProperty", "--first", strconv.Itoa(ed.first))
	}
	ed.preBox.Get("style").Set("transform", "translate("+ftoa(-left, 1)+"px,"+ftoa(-top, 1)+"px)")
	ed.gutterBox.Get("style").Set("transform", "translateY("+ftoa(-top, 1)+"px)")
}

// SetDiagnostics shows compile errors: a marker in the gutter at each line
// (.diag-marker[data-line=N], the message as its title), the line tinted,
// and the list under the editor. Clicking an entry selects its line (one
// listener on the list, bound in newEditor).
func (ed *editor) SetDiagnostics(ds []stream.Diagnostic) {
	ed.diags = ds
	for _, sel := range []string{".diag-marker", ".diag-line"} {
		old := document.Call("querySelectorAll", "#editor "+sel)
		for i := old.Length() - 1; i >= 0; i-- {
			old.Index(i).Call("remove")
		}
	}
	clearChildren(ed.list)
	show(ed.list, len(ds) > 0)
	seen := map[int]js.Value{}
	for _, d := range ds {
		line := max(d.Line, 1)
		if m, ok := seen[line]; ok {
			m.Set("title", m.Get("title").String()+"\n"+d.Message)
		} else {
			m := create("span", "diag-marker", "●")
			setData(m, "line", itoa(line))
			m.Set("title", d.Message)
			m.Get("style").Call("setProperty", "--line", itoa(line))
			ed.gutterBox.Call("appendChild", m)
			bg := create("div", "diag-line", "")
			bg.Get("style").Call("setProperty", "--line", itoa(line))
			ed.preBox.Call("insertBefore", bg, ed.pre)
			seen[line] = m
		}
		li := create("li", "", "")
		where := d.File
		if where == "" {
			where = "main.go"
		}
		where += ":" + itoa(line)
		if d.Col > 0 {
			where += ":" + itoa(d.Col)
		}
		a := create("a", "", where)
		a.Set("href", "#")
		setData(a, "line", itoa(line))
		li.Call("append", a, " "+d.Message)
		ed.list.Call("appendChild", li)
	}
}

// selectLine selects line n and scrolls it to the middle of the view.
func (ed *editor) selectLine(n int) {
	src := ed.Value()
	off := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(src[off:], '\n')
		if j < 0 {
			break
		}
		off += j + 1
	}
	end := off + max(strings.IndexByte(src[off:], '\n'), 0)
	ed.ta.Call("focus")
	// selectionStart counts UTF-16 units.
	ed.ta.Call("setSelectionRange", utf16Len(src[:off]), utf16Len(src[:end]))
	ed.ta.Set("scrollTop", max(0, float64((n-1)*lineHeight)-ed.ta.Get("clientHeight").Float()/2))
	ed.render(false)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
