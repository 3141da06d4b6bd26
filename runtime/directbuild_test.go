package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

func TestDirectSource(t *testing.T) {
	const v = "go" + handlerGoVersion + ".3"
	files := func(nameData ...string) experiment.Source {
		var src experiment.Source
		for i := 0; i < len(nameData); i += 2 {
			src.Files = append(src.Files, experiment.File{Name: nameData[i], Data: nameData[i+1]})
		}
		return src
	}
	imports, names, ok := directSource(files("main.go", helloHandler, "a.go", "package main\n\nimport \"strings\"\n\nvar _ = strings.ToUpper\n"), TargetWASI, v)
	if !ok || !reflect.DeepEqual(imports, []string{"fmt", "github.com/mpmlab/mpmlab/wasm/guest", "net/http", "strings"}) ||
		!reflect.DeepEqual(names, []string{"a.go", "main.go"}) {
		t.Errorf("directSource(hello) = %q, %q, %v", imports, names, ok)
	}
	for _, tc := range []struct {
		name   string
		src    experiment.Source
		target Target
		goV    string
	}{
		{"a build constraint", files("main.go", "//go:build wasip1\n\n"+helloHandler), TargetWASI, v},
		{"an old build constraint", files("main.go", "// +build wasip1\n\n"+helloHandler), TargetWASI, v},
		{"go:embed", files("main.go", "package main\n\nimport _ \"embed\"\n\n//go:embed data.txt\nvar s string\n\nfunc main() {}\n"), TargetWASI, v},
		{"cgo", files("main.go", "package main\n\nimport \"C\"\n\nfunc main() {}\n"), TargetWASI, v},
		{"a file for another GOOS", files("main.go", helloHandler, "x_linux.go", "package main\n"), TargetWASI, v},
		{"another package", files("main.go", "package lib\n"), TargetWASI, v},
		{"a syntax error in the imports", files("main.go", "package main\n\nimport (\n"), TargetWASI, v},
		{"a newer Go", files("main.go", helloHandler), TargetWASI, "go1.99.0"},
		{"the native target", files("main.go", helloHandler), TargetNative, v},
	} {
		if _, _, ok := directSource(tc.src, tc.target, tc.goV); ok {
			t.Errorf("%s: built without the go command", tc.name)
		}
	}
}

// TestDirectBuildMatchesGoBuild builds a handler once with the go command
// (which teaches the Builder its imports), then an edit of it with the
// compiler and the linker alone, with the go command out of reach, and
// checks that the module is the one "go build" makes of the edit but for
// its build ID; a compile error is reported as the go command reports it;
// and a learned configuration that no longer works falls back to the go
// command.
func TestDirectBuildMatchesGoBuild(t *testing.T) {
	t.Run("wasip1", func(t *testing.T) { testDirectBuild(t, TargetWASI) })
	t.Run("js", func(t *testing.T) {
		if testing.Short() {
			t.Skip("compiles the standard library for GOOS=js on a cold cache")
		}
		testDirectBuild(t, TargetJS)
	})
}

func testDirectBuild(t *testing.T, target Target) {
	ctx := context.Background()
	direct := &Builder{CacheDir: t.TempDir()}
	if _, err := direct.Build(ctx, mainGo(helloHandler), target); err != nil {
		t.Fatal(err)
	}
	if _, _, err := direct.tools(ctx); err != nil {
		t.Fatal(err)
	}
	cfgs, _ := filepath.Glob(filepath.Join(direct.CacheDir, "importcfg", "*"))
	if len(cfgs) != 1 {
		t.Fatalf("the go command's build left %d import configurations, want 1", len(cfgs))
	}
	goCmd := direct.goPath
	direct.goPath = filepath.Join(t.TempDir(), "no-go") // from here on, a run of the go command fails

	edited := mainGo(strings.Replace(helloHandler, `"hello"`, `"hello, directly"`, 1))
	art, err := direct.Build(ctx, edited, target)
	if err != nil {
		t.Fatalf("the edit did not build without the go command: %v", err)
	}
	// The go command's build of the edit, in the same cache (the module
	// names the SDK's directory): the module and what was learned moved
	// aside, and a Builder that has learned nothing.
	directModule := filepath.Join(t.TempDir(), "direct.wasm")
	if err := os.Rename(art.Path, directModule); err != nil {
		t.Fatal(err)
	}
	learned := filepath.Join(t.TempDir(), "importcfg")
	if err := os.Rename(filepath.Join(direct.CacheDir, "importcfg"), learned); err != nil {
		t.Fatal(err)
	}
	viaGo := &Builder{CacheDir: direct.CacheDir}
	want, err := viaGo.Build(ctx, edited, target)
	if err != nil {
		t.Fatal(err)
	}
	sameModule(t, directModule, want.Path)
	if err := os.RemoveAll(filepath.Join(direct.CacheDir, "importcfg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(learned, filepath.Join(direct.CacheDir, "importcfg")); err != nil {
		t.Fatal(err)
	}
	viaGo = &Builder{CacheDir: t.TempDir()}

	broken := mainGo(strings.Replace(helloHandler, `fmt.Fprintln(w, "hello")`, `fmt.Fprintln(w, nope)`, 1))
	_, directErr := direct.Build(ctx, broken, target)
	_, goErr := viaGo.Build(ctx, broken, target)
	var de, ge *BuildError
	if !errors.As(directErr, &de) || !errors.As(goErr, &ge) {
		t.Fatalf("a compile error: %v without the go command, %v with it; want *BuildErrors", directErr, goErr)
	}
	if de.Output != ge.Output || !reflect.DeepEqual(de.Diagnostics, ge.Diagnostics) || len(de.Diagnostics) != 1 {
		t.Errorf("a compile error without the go command:\n%s%+v\nwith it:\n%s%+v", de.Output, de.Diagnostics, ge.Output, ge.Diagnostics)
	}

	// A configuration whose archive is not one: the compile cannot import
	// it, and the go command builds the source (and is learned from again).
	direct.goPath = goCmd
	data, err := os.ReadFile(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	bogus := filepath.Join(t.TempDir(), "fmt.a")
	os.WriteFile(bogus, []byte("not an archive"), 0o644)
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "packagefile fmt=") {
			line = "packagefile fmt=" + bogus
		}
		lines = append(lines, line)
	}
	os.WriteFile(cfgs[0], []byte(strings.Join(lines, "\n")), 0o644)
	fresh := &Builder{CacheDir: direct.CacheDir} // reads the configuration from disk
	again, err := fresh.Build(ctx, mainGo(strings.Replace(helloHandler, `"hello"`, `"hello, again"`, 1)), target)
	if err != nil {
		t.Fatalf("with a broken import configuration: %v, want the go command's build", err)
	}
	checkWasm(t, again.Path)
	if relearned, _ := os.ReadFile(cfgs[0]); bytes.Contains(relearned, []byte(bogus)) || len(relearned) == 0 {
		t.Errorf("the broken import configuration was not learned again:\n%s", relearned)
	}
}

// sameModule fails unless the wasm modules at a and b have the same
// sections but for the content of the go command's build ID section.
func sameModule(t *testing.T, a, b string) {
	t.Helper()
	wa, sa := readSections(t, a)
	wb, sb := readSections(t, b)
	if len(sa) != len(sb) {
		t.Fatalf("%d sections, want %d", len(sa), len(sb))
	}
	for i := range sa {
		x, y := wa[sa[i].body:sa[i].end], wb[sb[i].body:sb[i].end]
		nx, ny := customName(sa[i], x), customName(sb[i], y)
		if nx == "go:buildid" && ny == "go:buildid" {
			if len(x) != len(y) {
				t.Errorf("build ID of %d bytes, want %d", len(x), len(y))
			}
			continue
		}
		if sa[i].id != sb[i].id || nx != ny || !bytes.Equal(x, y) {
			t.Errorf("section %d (id %d %q, %d bytes) differs from the go command's (id %d %q, %d bytes)",
				i, sa[i].id, nx, len(x), sb[i].id, ny, len(y))
		}
	}
}

// readSections reads the module at path and lists its sections.
func readSections(t *testing.T, path string) ([]byte, []wasmSection) {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secs, ok := sections(wasm)
	if !ok {
		t.Fatalf("%s is not a wasm module", path)
	}
	return wasm, secs
}

// customName is the name of a custom section whose contents are body, ""
// for any other section.
func customName(s wasmSection, body []byte) string {
	if s.id != 0 {
		return ""
	}
	l, n := binary.Uvarint(body)
	if n <= 0 || l > uint64(len(body)-n) {
		return ""
	}
	return string(body[n : n+int(l)])
}
