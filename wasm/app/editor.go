//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/highlight"
)

// editor is the source editor: a <textarea> with transparent text over a
// <pre> that shows the same text highlighted, a gutter of line numbers with
// diagnostic markers, and a list of the diagnostics.
//
// The textarea is sized to its content (CSS reads --lines and --cols from
// the code box), so it never scrolls by itself: the editor box scrolls the
// text, the highlight and the gutter together.
type editor struct {
	ta, pre, gutter, code, list js.Value

	lines, cols int
	queued      bool
	escaped     bool   // the last key was Escape: let Tab leave the editor
	buf         []byte // highlight output, reused
	diags       []diagnostic
	onChange    func()
}

func newEditor() *editor {
	ed := &editor{
		ta:     byID("source"),
		pre:    byID("highlight"),
		gutter: byID("gutter"),
		code:   byID("code"),
		list:   byID("diagnostics"),
	}
	on(ed.ta, "input", func(js.Value) {
		ed.schedule()
		if ed.onChange != nil {
			ed.onChange()
		}
	})
	on(ed.ta, "keydown", ed.keydown)
	return ed
}

func (ed *editor) Value() string { return ed.ta.Get("value").String() }

// SetValue replaces the text (and the undo history) and clears the
// diagnostics.
func (ed *editor) SetValue(s string) {
	ed.ta.Set("value", s)
	ed.SetDiagnostics(nil)
	ed.refresh()
}

// Replace replaces the whole text as an edit the user can undo.
func (ed *editor) Replace(s string) {
	if s == ed.Value() {
		return
	}
	ed.ta.Call("focus")
	ed.ta.Call("select")
	if !document.Call("execCommand", "insertText", false, s).Truthy() {
		ed.ta.Set("value", s)
	}
	ed.ta.Call("setSelectionRange", 0, 0)
	ed.refresh()
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
		ed.refresh()
	})
}

// refresh re-highlights the text and resizes the code box.
func (ed *editor) refresh() {
	src := ed.Value()
	ed.buf = highlight.Go(ed.buf[:0], []byte(src))
	ed.buf = append(ed.buf, '\n')
	ed.pre.Set("innerHTML", string(ed.buf))

	lines, cols, col := 1, 0, 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '\n':
			lines++
			cols, col = max(cols, col), 0
		case c == '\t':
			col += 4 - col%4
		case c < 0x80 || c >= 0xC0: // count runes, not continuation bytes
			col++
		}
	}
	cols = max(cols, col)
	if lines != ed.lines {
		var b strings.Builder
		for i := 1; i <= lines; i++ {
			b.WriteString(itoa(i))
			b.WriteByte('\n')
		}
		setText(query(ed.gutter, ".numbers"), b.String())
		ed.lines = lines
		ed.code.Get("style").Call("setProperty", "--lines", itoa(lines))
	}
	if cols != ed.cols {
		ed.cols = cols
		ed.code.Get("style").Call("setProperty", "--cols", itoa(cols))
	}
}

// SetDiagnostics shows compile errors: a marker in the gutter at each line
// (.diag-marker[data-line=N], the message as its title), the line tinted,
// and the list under the editor. Clicking an entry selects its line.
func (ed *editor) SetDiagnostics(ds []diagnostic) {
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
			ed.gutter.Call("appendChild", m)
			bg := create("div", "diag-line", "")
			bg.Get("style").Call("setProperty", "--line", itoa(line))
			ed.code.Call("insertBefore", bg, ed.pre)
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
		on(a, "click", func(e js.Value) {
			e.Call("preventDefault")
			ed.selectLine(line)
		})
	}
}

// selectLine puts the caret at the start of line n and scrolls to it.
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
	// selectionStart counts UTF-16 units; source lines before n are mostly
	// ASCII, and a drift of a few characters still lands on the line.
	ed.ta.Call("focus")
	ed.ta.Call("setSelectionRange", utf16Len(src[:off]), utf16Len(src[:end]))
	m := query(ed.gutter, ".diag-marker[data-line=\""+itoa(n)+"\"]")
	if !m.IsNull() {
		m.Call("scrollIntoView", map[string]any{"block": "center"})
	}
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
