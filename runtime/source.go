package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	mpwasm "github.com/mpmlab/mpmlab/wasm"
)

// MaxSourceSize is the most bytes a handler's source may have, counted over
// all its files. It matches the Go Playground's snippet limit: a handler is
// an experiment, not an application.
const MaxSourceSize = 64 << 10

// Source is a handler's source: one or more .go files of package main that,
// together with the guest SDK, build to one WebAssembly module.
//
// Get one from a path with LoadSource, from a txtar archive (the form the
// playground shares) with ParseTxtar, or from the bundled examples with
// ExampleSource; or fill Files yourself and call Validate:
//
//	src := &runtime.Source{Files: []runtime.File{{Name: "main.go", Data: code}}}
//	if err := src.Validate(); err != nil {
//		return err // e.g. "source is 70123 bytes; the limit is 65536 (64 KiB)"
//	}
//	fmt.Println(src.Hash()) // the same text always gives the same hash
//
// # Notes
//
//   - Files is sorted by name. The loaders sort it; if you build a Source by
//     hand, Txtar and Hash sort a copy, so the order you give does not matter.
//   - A Source is a value: nothing here retains or mutates it, and it is safe
//     to share between goroutines once built.
type Source struct {
	// Files are the handler's files, sorted by name.
	Files []File
}

// File is one file of a Source.
type File struct {
	// Name is a plain file name such as "main.go": no directories.
	Name string
	// Data is the file's content.
	Data []byte
}

// LoadSource reads a handler's source from path, which is one of:
//
//   - a .go file: the handler is that one file;
//   - a directory: every .go file directly in it (not in subdirectories),
//     except _test.go files and files Go ignores (starting with "." or "_");
//   - a .txtar archive: "-- main.go --" lines start each file (see ParseTxtar).
//
// The result is validated (see Source.Validate), so a nil error means the
// source is ready for Builder.Build.
func LoadSource(path string) (*Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load handler source: %w", err)
	}
	var src *Source
	switch {
	case fi.IsDir():
		src, err = loadDir(path)
	case strings.HasSuffix(path, ".txtar"):
		if fi.Size() > 2*MaxSourceSize { // room for markers; Validate checks the exact size
			return nil, sizeError(fi.Size())
		}
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			src, err = ParseTxtar(data)
		}
	case strings.HasSuffix(path, ".go"):
		if fi.Size() > MaxSourceSize {
			return nil, sizeError(fi.Size())
		}
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			src = &Source{Files: []File{{Name: filepath.Base(path), Data: data}}}
		}
	default:
		return nil, fmt.Errorf("not a Go source: %s (want a .go file, a directory of .go files, or a .txtar)", path)
	}
	if err != nil {
		return nil, err
	}
	if err := src.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}

func loadDir(dir string) (*Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load handler source: %w", err)
	}
	src := &Source{}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !isHandlerFileName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("load handler source: %w", err)
		}
		// Check the size before reading, so a directory of huge files is
		// refused without reading them.
		if total += info.Size(); total > MaxSourceSize {
			return nil, sizeError(total)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("load handler source: %w", err)
		}
		src.Files = append(src.Files, File{Name: e.Name(), Data: data})
	}
	if len(src.Files) == 0 {
		return nil, fmt.Errorf("no .go files in %s (want package main files such as main.go)", dir)
	}
	src.sort()
	return src, nil
}

// isHandlerFileName reports whether the go command would compile a file of
// that name into a package (ignoring build constraints).
func isHandlerFileName(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// ParseTxtar parses a txtar archive into a Source. Each line of the form
// "-- name --" starts a file that runs up to the next such line; text before
// the first file is a comment and is ignored:
//
//	Anything here is a comment.
//	-- main.go --
//	package main
//	...
//	-- util.go --
//	package main
//
// The format is that of golang.org/x/tools/txtar and of the Go Playground's
// multi-file snippets. ParseTxtar does not validate the files (their names,
// package clause or total size); see Source.Validate.
func ParseTxtar(data []byte) (*Source, error) {
	src := &Source{}
	cur := -1
	for len(data) > 0 {
		line := data
		next := len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, next = data[:i+1], i+1
		}
		data = data[next:]
		if name, ok := txtarMarker(line); ok {
			src.Files = append(src.Files, File{Name: name, Data: []byte{}})
			cur = len(src.Files) - 1
			continue
		}
		if cur >= 0 {
			src.Files[cur].Data = append(src.Files[cur].Data, line...)
		}
	}
	if len(src.Files) == 0 {
		return nil, errors.New(`txtar has no files (want "-- main.go --" lines starting each file)`)
	}
	src.sort()
	return src, nil
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

// Txtar returns the source in canonical txtar form: files sorted by name,
// no comment, each file ending in a newline. ParseTxtar(s.Txtar()) gives s
// back when every file ends in a newline. Hash and the build cache key are
// computed over this form.
func (s *Source) Txtar() []byte {
	files := append([]File(nil), s.Files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var buf bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&buf, "-- %s --\n", f.Name)
		buf.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// Hash returns the hex SHA-256 of the canonical txtar form (see Txtar): a
// content address for the source, the same on every machine.
func (s *Source) Hash() string {
	sum := sha256.Sum256(s.Txtar())
	return hex.EncodeToString(sum[:])
}

// Size returns the total bytes of all files, the number MaxSourceSize limits.
func (s *Source) Size() int {
	n := 0
	for _, f := range s.Files {
		n += len(f.Data)
	}
	return n
}

// Validate reports whether the source can be handed to the go command as a
// handler: at least one file; every name a plain "x.go" (no directories, no
// _test.go, not ignored by Go for starting with "." or "_"), each name once;
// at most MaxSourceSize bytes in all; and every file a Go file of package
// main (only the package clause is parsed here: other errors are the
// compiler's to report, with their line and column).
func (s *Source) Validate() error {
	if len(s.Files) == 0 {
		return errors.New("source has no files (want at least main.go)")
	}
	if n := s.Size(); n > MaxSourceSize {
		return sizeError(int64(n))
	}
	seen := make(map[string]bool, len(s.Files))
	fset := token.NewFileSet()
	for _, f := range s.Files {
		if err := checkFileName(f.Name); err != nil {
			return err
		}
		if seen[f.Name] {
			return fmt.Errorf("%s: file appears twice", f.Name)
		}
		seen[f.Name] = true
		file, err := parser.ParseFile(fset, f.Name, f.Data, parser.PackageClauseOnly)
		if err != nil {
			return err // already "main.go:1:1: expected 'package', found ..."
		}
		if file.Name.Name != "main" {
			pos := fset.Position(file.Name.Pos())
			return fmt.Errorf("%s: package %s, want package main (a handler is a program)", pos, file.Name.Name)
		}
	}
	return nil
}

func checkFileName(name string) error {
	switch {
	case name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return fmt.Errorf("file name %q: want a plain name such as main.go, with no directories", name)
	case !strings.HasSuffix(name, ".go"):
		return fmt.Errorf("file name %q: only .go files are allowed", name)
	case strings.HasSuffix(name, "_test.go"):
		return fmt.Errorf("file name %q: _test.go files are not allowed in a handler", name)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"):
		return fmt.Errorf("file name %q: Go ignores files starting with '.' or '_'", name)
	}
	return nil
}

func sizeError(n int64) error {
	return fmt.Errorf("source is %d bytes; the limit is %d (%d KiB)", n, MaxSourceSize, MaxSourceSize>>10)
}

func (s *Source) sort() {
	sort.SliceStable(s.Files, func(i, j int) bool { return s.Files[i].Name < s.Files[j].Name })
}

// ExampleNames returns the names of the example handlers bundled in the
// binary (wasm/examples/<name>), sorted. Load one with ExampleSource.
func ExampleNames() []string {
	entries, err := fs.ReadDir(mpwasm.Examples, "examples")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// ExampleSource returns the source of the bundled example handler name (one
// of ExampleNames), validated like LoadSource.
func ExampleSource(name string) (*Source, error) {
	dir := "examples/" + name
	entries, err := fs.ReadDir(mpwasm.Examples, dir)
	if err != nil || strings.ContainsAny(name, `/\`) || name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("unknown example %q (have: %s)", name, strings.Join(ExampleNames(), ", "))
	}
	src := &Source{}
	for _, e := range entries {
		if e.IsDir() || !isHandlerFileName(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(mpwasm.Examples, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		src.Files = append(src.Files, File{Name: e.Name(), Data: data})
	}
	src.sort()
	if err := src.Validate(); err != nil {
		return nil, fmt.Errorf("example %s: %w", name, err)
	}
	return src, nil
}
