// Package highlight turns Go source into HTML for the playground's editor:
// the source, escaped, with <span class="…"> around keywords, literals,
// comments and predeclared names. The editor layers that HTML in a <pre>
// under a transparent <textarea>, so the text must come out byte for byte
// (only <, > and & escaped) or the caret drifts from what is shown.
//
//	html := highlight.Go(nil, src) // "<span class=k>package</span> main\n…"
//
// # Notes
//
//   - It uses go/scanner, which never fails: unterminated literals and
//     illegal characters are shown uncoloured.
//   - The cost is linear: a 64 KiB source takes about a millisecond
//     natively (see BenchmarkGo); the editor still coalesces keystrokes to
//     one highlight per animation frame.
package highlight

import (
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

// Go appends the highlighted HTML of src to dst and returns it.
func Go(dst []byte, src []byte) []byte {
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	s.Init(file, src, func(token.Position, string) {}, scanner.ScanComments)
	last := 0 // src[:last] is written
	prevIdent := -1
	prevIdentEnd := 0
	emit := func(start, end int, class string) {
		dst = escape(dst, src[last:start])
		dst = append(dst, `<span class=`...)
		dst = append(dst, class...)
		dst = append(dst, '>')
		dst = escape(dst, src[start:end])
		dst = append(dst, `</span>`...)
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
	return escape(dst, src[last:])
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
