// Package highlight turns Go source into HTML for the playground's editor:
// the source, escaped, with <span class="…"> around keywords, literals,
// comments and predeclared names. The editor layers that HTML in a <pre>
// under a transparent <textarea>, so the text must come out byte for byte
// (only <, > and & escaped) or the caret drifts from what is shown.
//
//	html, lines := highlight.Go(nil, src, nil)
//	visible := html[lines[first]:lines[last]] // lines first..last-1
//
// # Notes
//
//   - Every line's HTML is balanced: a token that spans lines (a block
//     comment, a raw string) is closed at each newline and reopened after
//     it, so any run of whole lines can be shown on its own. The editor
//     shows only the lines in view, which keeps a keystroke in a 64 KiB
//     source to a few milliseconds.
//   - It uses go/scanner, which never fails: unterminated literals and
//     illegal characters come out as they are.
package highlight

import (
	"bytes"
	"go/scanner"
	"go/token"
)

// Classes of the spans, styled by www/style.css.
const (
	Keyword  = "k" // func, return, …
	String   = "s" // "…", `…`, '…'
	Number   = "n" // 42, 0x1p3, 1i
	Comment  = "c" // // … and /* … */
	Builtin  = "b" // predeclared types and functions: int, len, nil, …
	Function = "f" // an identifier followed by "(": a call or declaration
)

var predeclared = map[string]bool{}

func init() {
	for _, s := range []string{
		"any", "bool", "byte", "comparable", "complex64", "complex128", "error", "float32", "float64",
		"int", "int8", "int16", "int32", "int64", "rune", "string",
		"uint", "uint8", "uint16", "uint32", "uint64", "uintptr",
		"true", "false", "iota", "nil",
		"append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len", "make",
		"max", "min", "new", "panic", "print", "println", "real", "recover",
	} {
		predeclared[s] = true
	}
}

// Go appends the highlighted HTML of src to dst and returns it, with
// lines (reusing the slice given) holding the offset in the result at which
// each line of src starts, plus a last entry: the end.
func Go(dst []byte, src []byte, lines []int) ([]byte, []int) {
	w := writer{dst: dst, lines: append(lines[:0], len(dst))}
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	s.Init(file, src, func(token.Position, string) {}, scanner.ScanComments)
	last := 0 // src[:last] is written
	prevIdent := -1
	prevIdentEnd := 0
	emit := func(start, end int, class string) {
		w.text(src[last:start], "")
		w.text(src[start:end], class)
		last = end
	}
	flushIdent := func(class string) {
		if prevIdent >= 0 {
			if class != "" {
				emit(prevIdent, prevIdentEnd, class)
			}
			prevIdent = -1
		}
	}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		start := file.Offset(pos)
		if tok == token.LPAREN {
			flushIdent(Function)
			continue
		}
		flushIdent("")
		var class string
		end := start
		switch {
		case tok.IsKeyword():
			class, end = Keyword, start+len(tok.String())
		case tok == token.STRING || tok == token.CHAR:
			class, end = String, start+len(lit)
		case tok == token.INT || tok == token.FLOAT || tok == token.IMAG:
			class, end = Number, start+len(lit)
		case tok == token.COMMENT:
			class, end = Comment, start+len(lit)
		case tok == token.IDENT:
			if predeclared[lit] {
				class, end = Builtin, start+len(lit)
			} else {
				prevIdent, prevIdentEnd = start, start+len(lit)
			}
		}
		// The scanner strips carriage returns from raw strings and
		// comments: colour a literal only if it is the source's own text.
		if class == "" || start < last || end > len(src) || string(src[start:end]) != literalText(tok, lit) {
			continue
		}
		emit(start, end, class)
	}
	w.text(src[last:], "")
	w.lines = append(w.lines, len(w.dst))
	return w.dst, w.lines
}

// writer writes escaped text, in spans of a class, line by line.
type writer struct {
	dst   []byte
	lines []int
}

func (w *writer) text(s []byte, class string) {
	for len(s) > 0 {
		line := s
		nl := bytes.IndexByte(s, '\n')
		if nl >= 0 {
			line = s[:nl]
		}
		if len(line) > 0 {
			if class != "" {
				w.dst = append(w.dst, `<span class=`...)
				w.dst = append(w.dst, class...)
				w.dst = append(w.dst, '>')
			}
			w.dst = escape(w.dst, line)
			if class != "" {
				w.dst = append(w.dst, `</span>`...)
			}
		}
		if nl < 0 {
			return
		}
		w.dst = append(w.dst, '\n')
		w.lines = append(w.lines, len(w.dst))
		s = s[nl+1:]
	}
}

func literalText(tok token.Token, lit string) string {
	if tok.IsKeyword() {
		return tok.String()
	}
	return lit
}

func escape(dst, s []byte) []byte {
	for _, c := range s {
		switch c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
