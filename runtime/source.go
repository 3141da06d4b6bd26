package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	mpwasm "github.com/mpmlab/mpmlab/wasm"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// LoadSource reads a handler's source from path, which is one of:
//
//   - a .go file: the handler is that one file;
//   - a directory: every .go file directly in it (not in subdirectories),
//     except _test.go files and files Go ignores (starting with "." or "_");
//   - a .txtar archive: "-- main.go --" lines start each file (see
//     experiment.ParseTxtar).
//
// The result is validated (see experiment.Source.Validate), so a nil error
// means the source is ready for Builder.Build.
func LoadSource(path string) (experiment.Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return experiment.Source{}, fmt.Errorf("load handler source: %w", err)
	}
	var src experiment.Source
	switch {
	case fi.IsDir():
		src, err = loadDir(path)
	case strings.HasSuffix(path, ".txtar"):
		if fi.Size() > 2*experiment.MaxSourceSize { // room for markers; Validate checks the exact size
			return src, sizeError(fi.Size())
		}
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			src, err = experiment.ParseTxtar(data)
		}
	case strings.HasSuffix(path, ".go"):
		if fi.Size() > experiment.MaxSourceSize {
			return src, sizeError(fi.Size())
		}
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			src.Files = []experiment.File{{Name: filepath.Base(path), Data: string(data)}}
		}
	default:
		return src, fmt.Errorf("not a Go source: %s (want a .go file, a directory of .go files, or a .txtar)", path)
	}
	if err != nil {
		return experiment.Source{}, err
	}
	if err := src.Validate(); err != nil {
		return experiment.Source{}, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}

func loadDir(dir string) (experiment.Source, error) {
	var src experiment.Source
	entries, err := os.ReadDir(dir)
	if err != nil {
		return src, fmt.Errorf("load handler source: %w", err)
	}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !isHandlerFileName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return src, fmt.Errorf("load handler source: %w", err)
		}
		// Check the size before reading, so a directory of huge files is
		// refused without reading them.
		if total += info.Size(); total > experiment.MaxSourceSize {
			return src, sizeError(total)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return src, fmt.Errorf("load handler source: %w", err)
		}
		src.Files = append(src.Files, experiment.File{Name: e.Name(), Data: string(data)})
	}
	if len(src.Go().Files) == 0 {
		return src, fmt.Errorf("no .go files in %s (want package main files such as main.go)", dir)
	}
	src.Sort()
	return src, nil
}

// isHandlerFileName reports whether a file of that name is part of a
// handler's source: one the go command would compile into a package
// (ignoring build constraints), or a data file (experiment.IsData) other
// than experiment.json, which holds an example's settings.
func isHandlerFileName(name string) bool {
	if strings.HasPrefix(name, ".") || name == "experiment.json" {
		return false
	}
	if experiment.IsData(name) {
		return true
	}
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !strings.HasPrefix(name, "_")
}

func sizeError(n int64) error { return &experiment.SizeError{Size: int(n)} }

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
func ExampleSource(name string) (experiment.Source, error) {
	var src experiment.Source
	dir := "examples/" + name
	entries, err := fs.ReadDir(mpwasm.Examples, dir)
	if err != nil || strings.ContainsAny(name, `/\`) || name == "" || name == "." || name == ".." {
		return src, fmt.Errorf("unknown example %q (have: %s)", name, strings.Join(ExampleNames(), ", "))
	}
	for _, e := range entries {
		if e.IsDir() || !isHandlerFileName(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(mpwasm.Examples, dir+"/"+e.Name())
		if err != nil {
			return src, err
		}
		src.Files = append(src.Files, experiment.File{Name: e.Name(), Data: string(data)})
	}
	src.Sort()
	if err := src.Validate(); err != nil {
		return experiment.Source{}, fmt.Errorf("example %s: %w", name, err)
	}
	return src, nil
}
