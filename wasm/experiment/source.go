package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckPause is the pause in typing after which the page builds the
// source (POST /api/build), as an IDE checks it: long enough not to build
// on every key, short enough that the build is done (and, on the host,
// compiled to machine code) before a person has moved to Run. IntelliJ's
// default "autoreparse delay" is the same.
const CheckPause = 300 * time.Millisecond

// Limits of a source. Source.Validate enforces them.
const (
	// MaxSourceSize is the most bytes a handler's source may have, counted
	// over all its files. It matches the Go Playground's snippet limit: a
	// handler is an experiment, not an application.
	MaxSourceSize = 64 << 10
	// MaxFiles is the most files a source may have.
	MaxFiles = 32
	// maxFileName is the longest file name accepted.
	maxFileName = 128
)

// DataExtensions are the extensions of the data files a source may carry
// beside its .go files: text the handler reads at run time (data.json, a
// template, a stylesheet), from the read-only file system its instances
// see, rooted at the experiment (see runtime.Files). The go command
// ignores them. Files the go command would compile (.s, .c, .syso...) are
// not data.
var DataExtensions = []string{
	".json", ".html", ".htm", ".tmpl", ".gohtml", ".txt", ".md", ".css", ".js", ".mjs",
	".csv", ".tsv", ".xml", ".svg", ".yaml", ".yml", ".toml", ".ini", ".sql",
}

// IsData reports whether name is a data file's (one of DataExtensions),
// not Go source.
func IsData(name string) bool {
	for _, ext := range DataExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// Go returns the source's .go files only: what the go command compiles.
func (s Source) Go() Source {
	var out Source
	for _, f := range s.Files {
		if strings.HasSuffix(f.Name, ".go") {
			out.Files = append(out.Files, f)
		}
	}
	return out
}

// Source is a handler's source: one or more .go files of package main that,
// together with the guest SDK, build to one WebAssembly module, and any data
// files (IsData) the handler reads at run time. It is the
// one type for a source everywhere: in the JSON of an experiment, in the
// browser, and in the host's builder (runtime.Builder.Build).
//
// Build one by hand and call Validate, parse a txtar archive with
// ParseTxtar, or on the host load a path or a bundled example with
// runtime.LoadSource and runtime.ExampleSource:
//
//	src := experiment.Source{Files: []experiment.File{{Name: "main.go", Data: code}}}
//	if err := src.Validate(); err != nil {
//		return err // e.g. "source is 70123 bytes; the limit is 65536 (64 KiB)"
//	}
//	fmt.Println(src.Hash()) // the same files always give the same hash
//
// The order of Files does not matter to Txtar and Hash, which sort a copy;
// the loaders sort Files by name.
type Source struct {
	Files []File `json:"files"`
}

// File is one file of a Source.
type File struct {
	// Name is a plain file name such as "main.go": no directories.
	Name string `json:"name"`
	// Data is the file's content.
	Data string `json:"data"`
}

// Size returns the total bytes of all files, the number MaxSourceSize limits.
func (s Source) Size() int {
	n := 0
	for _, f := range s.Files {
		n += len(f.Data)
	}
	return n
}

// SizeError is the error of a source over MaxSourceSize (the host answers
// it with 413).
type SizeError struct{ Size int }

func (e *SizeError) Error() string {
	return fmt.Sprintf("source is %d bytes; the limit is %d (%d KiB)", e.Size, MaxSourceSize, MaxSourceSize>>10)
}

// Validate reports whether the source can be handed to the go command as a
// handler: one to MaxFiles files, at least one of them Go; every name plain
// (no directories), each once, either "x.go" (no _test.go, not ignored by
// Go for starting with "." or "_") or a data file with one of
// DataExtensions (not starting with ".", text in UTF-8); at most
// MaxSourceSize bytes in all (a *SizeError); and every .go file starting
// with the clause "package main". Only that clause is read here: other
// errors are the compiler's to report, with their line and column.
func (s Source) Validate() error {
	if n := s.Size(); n > MaxSourceSize {
		return &SizeError{Size: n}
	}
	switch {
	case len(s.Files) == 0:
		return errors.New("source has no files (want at least main.go)")
	case len(s.Files) > MaxFiles:
		return fmt.Errorf("source has %d files; the limit is %d", len(s.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(s.Files))
	for _, f := range s.Files {
		if err := checkFileName(f.Name); err != nil {
			return err
		}
		if seen[f.Name] {
			return fmt.Errorf("%s: file appears twice", f.Name)
		}
		seen[f.Name] = true
		if IsData(f.Name) {
			if !utf8.ValidString(f.Data) {
				return fmt.Errorf("%s: a data file must be text in UTF-8", f.Name)
			}
			continue
		}
		if err := checkPackageMain(f); err != nil {
			return err
		}
	}
	if len(s.Go().Files) == 0 {
		return errors.New("source has no .go files (want at least main.go)")
	}
	return nil
}

func checkFileName(name string) error {
	switch {
	case name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return fmt.Errorf("file name %q: want a plain name such as main.go, with no directories", name)
	case len(name) > maxFileName:
		return fmt.Errorf("file name %.20q...: longer than %d bytes", name, maxFileName)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("file name %q: a name may not start with '.'", name)
	case IsData(name):
		return nil
	case !strings.HasSuffix(name, ".go"):
		return fmt.Errorf("file name %q: want a .go file or a data file (%s)", name, strings.Join(DataExtensions, " "))
	case strings.HasSuffix(name, "_test.go"):
		return fmt.Errorf("file name %q: _test.go files are not allowed in a handler", name)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"):
		return fmt.Errorf("file name %q: Go ignores files starting with '.' or '_'", name)
	}
	return nil
}

// checkPackageMain reads f's first two tokens, past comments, with the Go
// scanner: they must be "package main". The scanner is the standard
// library's lightest way to read them (go/parser would be a large part of
// the browser's build), and it places an error as the compiler does.
func checkPackageMain(f File) error {
	fset := token.NewFileSet()
	file := fset.AddFile(f.Name, -1, len(f.Data))
	var sc scanner.Scanner
	var scanErr error
	sc.Init(file, []byte(f.Data), func(pos token.Position, msg string) {
		if scanErr == nil {
			scanErr = fmt.Errorf("%s: %s", pos, msg)
		}
	}, 0)
	pos, tok, lit := sc.Scan()
	if scanErr != nil {
		return scanErr
	}
	if tok != token.PACKAGE {
		return fmt.Errorf("%s: expected 'package', found %s", fset.Position(pos), describe(tok, lit))
	}
	pos, tok, lit = sc.Scan()
	if scanErr != nil {
		return scanErr
	}
	switch {
	case tok != token.IDENT:
		return fmt.Errorf("%s: expected package name, found %s", fset.Position(pos), describe(tok, lit))
	case lit != "main":
		return fmt.Errorf("%s: package %s, want package main (a handler is a program)", fset.Position(pos), lit)
	}
	return nil
}

func describe(tok token.Token, lit string) string {
	switch {
	case tok == token.EOF:
		return "EOF"
	case tok.IsLiteral() && lit != "":
		return lit
	}
	return "'" + tok.String() + "'"
}

// ParseTxtar parses a txtar archive into a Source, its files sorted by
// name. Each line of the form "-- name --" starts a file that runs up to the
// next such line; text before the first file is a comment and is ignored:
//
//	Anything here is a comment.
//	-- main.go --
//	package main
//	...
//	-- util.go --
//	package main
//
// The format is that of golang.org/x/tools/txtar and of the Go Playground's
// multi-file snippets. ParseTxtar does not validate the files; see
// Source.Validate.
func ParseTxtar(data []byte) (Source, error) {
	var src Source
	var cur *strings.Builder
	var bodies []*strings.Builder
	for len(data) > 0 {
		line := data
		if i := indexNewline(data); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if name, ok := txtarMarker(line); ok {
			src.Files = append(src.Files, File{Name: name})
			cur = new(strings.Builder)
			bodies = append(bodies, cur)
			continue
		}
		if cur != nil {
			cur.Write(line)
		}
	}
	if len(src.Files) == 0 {
		return Source{}, errors.New(`txtar has no files (want "-- main.go --" lines starting each file)`)
	}
	for i := range src.Files {
		src.Files[i].Data = bodies[i].String()
	}
	src.Sort()
	return src, nil
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// txtarMarker returns the file name of a "-- name --" line.
func txtarMarker(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < len("-- x --") {
		return "", false
	}
	name := strings.TrimSpace(s[len("-- ") : len(s)-len(" --")])
	return name, name != ""
}

// Sort sorts Files by name.
func (s Source) Sort() {
	sort.SliceStable(s.Files, func(i, j int) bool { return s.Files[i].Name < s.Files[j].Name })
}

func (s Source) sorted() []File {
	files := append([]File(nil), s.Files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files
}

// Txtar returns the source as a txtar archive: files sorted by name, no
// comment, each file ending in a newline. ParseTxtar(s.Txtar()) gives s
// back when every file ends in a newline and none holds a marker line.
func (s Source) Txtar() []byte {
	var b strings.Builder
	for _, f := range s.sorted() {
		b.WriteString("-- " + f.Name + " --\n")
		b.WriteString(f.Data)
		if f.Data != "" && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// Hash returns the hex SHA-256 of the files sorted by name, each name and
// content prefixed by its length: a content address for the source, the
// same on every machine. It is not a hash of Txtar, where a file holding a
// "-- x.go --" line reads the same as two files.
func (s Source) Hash() string {
	h := sha256.New()
	for _, f := range s.sorted() {
		for _, part := range []string{f.Name, f.Data} {
			h.Write(strconv.AppendInt(nil, int64(len(part)), 10))
			h.Write([]byte{0})
			h.Write([]byte(part))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
