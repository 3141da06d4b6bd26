package runtime

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Diagnostic is one compiler message about a handler's source, located by
// file, line and column, ready for an editor to underline: the stream's
// schema type, which the playground sends the page.
type Diagnostic = stream.Diagnostic

// BuildError is returned by Builder.Build when the go command rejects the
// handler (a compile error, a bad import, an error in the build setup), or
// when the handler compiles but its main never calls guest.Serve (NoServe).
// Use errors.As to reach the diagnostics:
//
//	var be *runtime.BuildError
//	if errors.As(err, &be) {
//		for _, d := range be.Diagnostics { ... } // d.File, d.Line, d.Col
//	}
//
// Errors that are not about the handler (the go command missing, a timeout,
// a cancelled context, a full disk) are not BuildErrors.
type BuildError struct {
	// Diagnostics are the located messages parsed from Output, in order.
	Diagnostics []Diagnostic
	// Output is what the go command printed, less the package names of
	// "go build -v", with paths relative to the handler's directory.
	Output string
	// NoServe is set when the go command built the handler but it cannot
	// serve: its main never calls guest.Serve (the one diagnostic says
	// where, and what to do).
	NoServe bool
}

func noServeError(d *Diagnostic) *BuildError {
	return &BuildError{Diagnostics: []Diagnostic{*d}, Output: d.String(), NoServe: true}
}

// Error returns the diagnostics, one per line, or the trimmed output of the
// go command when no line of it could be located.
func (e *BuildError) Error() string {
	if len(e.Diagnostics) == 0 {
		out := strings.TrimSpace(e.Output)
		if out == "" {
			return "build failed"
		}
		return out
	}
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// diagLine matches "main.go:12:5: message", "./main.go:12: message" and
// "/abs/dir/main.go:12:5: message".
var diagLine = regexp.MustCompile(`^(\S+?\.go):(\d+)(?::(\d+))?: (.*)$`)

// ParseDiagnostics extracts located messages from the output of the go
// command. It understands "file.go:line:col: message" and "file.go:line:
// message" (Col 0), strips a leading "./" from file names, appends indented
// continuation lines (such as "\thave ... want ...") to the message above
// them, and skips everything else: "# package" headers, the package names
// printed by "go build -v", summaries like "too many errors".
func ParseDiagnostics(output string) []Diagnostic {
	var diags []Diagnostic
	prevDiag := false // the previous line was a diagnostic or its continuation
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := diagLine.FindStringSubmatch(line); m != nil {
			d := Diagnostic{File: strings.TrimPrefix(m[1], "./"), Message: m[4]}
			d.Line, _ = strconv.Atoi(m[2])
			if m[3] != "" {
				d.Col, _ = strconv.Atoi(m[3])
			}
			diags = append(diags, d)
			prevDiag = true
			continue
		}
		if prevDiag && strings.HasPrefix(line, "\t") {
			d := &diags[len(diags)-1]
			d.Message += "\n" + strings.TrimSpace(line)
			continue
		}
		prevDiag = false
	}
	return diags
}

// packageLine matches an import path alone on its line, as "go build -v"
// prints one per package it compiles. Error lines always have a space.
var packageLine = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+$`)

func isPackageLine(line string) bool {
	return packageLine.MatchString(line) && !strings.HasSuffix(line, ".go")
}
