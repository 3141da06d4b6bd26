package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// helloHandler is the smallest real handler: net/http plus the guest SDK.
const helloHandler = `package main

import (
	"fmt"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	guest.Serve(nil)
}
`

// brokenHandler has one compile error: "undefined: nope" at 5:2.
const brokenHandler = `package main

func main() {
	x := 1
	nope(x)
}
`

// badImportHandler imports a module that is not in the module cache; with
// GOPROXY=off the build must fail at once, at 3:8.
const badImportHandler = `package main

import "example.com/nope"

func main() { nope.Hello() }
`

func mainGo(code string) experiment.Source {
	return experiment.Source{Files: []experiment.File{{Name: "main.go", Data: code}}}
}

func TestLoadSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := "package main\n\nvar s = `" + strings.Repeat("x", experiment.MaxSourceSize) + "`\n\nfunc main() {}\n"

	tests := []struct {
		name    string
		path    string
		want    []string // file names
		wantErr string
	}{
		{name: "go file", path: write("one/hello.go", helloHandler), want: []string{"hello.go"}},
		{
			name: "directory",
			path: func() string {
				write("two/main.go", helloHandler)
				write("two/util.go", "package main\n\nfunc util() {}\n")
				write("two/main_test.go", "package main\n")
				write("two/_ignored.go", "package main\n")
				write("two/README.md", "hi\n")
				write("two/sub/other.go", "package other\n")
				return filepath.Join(dir, "two")
			}(),
			want: []string{"README.md", "main.go", "util.go"}, // README.md: a data file
		},
		{
			name: "txtar",
			path: write("three.txtar", "a comment\n-- util.go --\npackage main\n-- main.go --\n"+helloHandler),
			want: []string{"main.go", "util.go"},
		},
		{name: "missing", path: filepath.Join(dir, "nope.go"), wantErr: "no such file or directory"},
		{
			name:    "python",
			path:    write("x.py", "print('hi')\n"),
			wantErr: "not a Go source: " + filepath.Join(dir, "x.py") + " (want a .go file, a directory of .go files, or a .txtar)",
		},
		{name: "too big file", path: write("big.go", big), wantErr: fmt.Sprintf("source is %d bytes; the limit is 65536 (64 KiB)", len(big))},
		{
			name: "too big directory",
			path: func() string {
				half := "package main\n\nvar s = `" + strings.Repeat("x", experiment.MaxSourceSize/2) + "`\n"
				write("four/a.go", half)
				write("four/b.go", half)
				return filepath.Join(dir, "four")
			}(),
			wantErr: fmt.Sprintf("source is %d bytes; the limit is 65536 (64 KiB)", 2*(len("package main\n\nvar s = `")+experiment.MaxSourceSize/2+2)),
		},
		{
			name:    "empty directory",
			path:    func() string { write("five/notes.txt", "hi\n"); return filepath.Join(dir, "five") }(),
			wantErr: "no .go files in " + filepath.Join(dir, "five"),
		},
		{name: "not main", path: write("lib.go", "package lib\n"), wantErr: "lib.go:1:9: package lib, want package main"},
		{name: "not Go", path: write("junk.go", "hello\n"), wantErr: "junk.go:1:1: expected 'package', found hello"},
		{name: "txtar with go.mod", path: write("six.txtar", "-- go.mod --\nmodule x\n-- main.go --\npackage main\n"), wantErr: `file name "go.mod": want a .go file or a data file`},
		{name: "txtar with a path", path: write("seven.txtar", "-- ../main.go --\npackage main\n"), wantErr: "no directories"},
		{name: "txtar without files", path: write("eight.txtar", "just a comment\n"), wantErr: "txtar has no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := LoadSource(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadSource(%s) error = %v, want one containing %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadSource(%s): %v", tt.path, err)
			}
			var names []string
			for _, f := range src.Files {
				names = append(names, f.Name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("files = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestExampleSources(t *testing.T) {
	names := ExampleNames()
	if len(names) == 0 {
		t.Fatal("ExampleNames() is empty")
	}
	for _, name := range names {
		if _, err := ExampleSource(name); err != nil {
			t.Errorf("ExampleSource(%q): %v", name, err)
		}
	}
	if _, err := ExampleSource("no-such-example"); err == nil || !strings.Contains(err.Error(), names[0]) {
		t.Errorf("ExampleSource(no-such-example) error = %v, want the list of examples", err)
	}
}

func TestParseDiagnostics(t *testing.T) {
	const output = `internal/goarch
runtime
mpmlab.local/handler
# mpmlab.local/handler
./main.go:5:2: undefined: nope
util.go:12: syntax error: unexpected newline
main.go:9:12: cannot use x (variable of type int) as string value in argument to f
./main.go:20:7: impossible type assertion: r.(T)
	T does not implement I (missing method M)
		have m()
		want M()
too many errors
go: some go command message
`
	want := []Diagnostic{
		{File: "main.go", Line: 5, Col: 2, Message: "undefined: nope"},
		{File: "util.go", Line: 12, Col: 0, Message: "syntax error: unexpected newline"},
		{File: "main.go", Line: 9, Col: 12, Message: "cannot use x (variable of type int) as string value in argument to f"},
		{File: "main.go", Line: 20, Col: 7, Message: "impossible type assertion: r.(T)\nT does not implement I (missing method M)\nhave m()\nwant M()"},
	}
	got := ParseDiagnostics(output)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseDiagnostics =\n%#v\nwant\n%#v", got, want)
	}
	strs := []string{"main.go:5:2: undefined: nope", "util.go:12: syntax error: unexpected newline"}
	for i, s := range strs {
		if got[i].String() != s {
			t.Errorf("String() = %q, want %q", got[i].String(), s)
		}
	}
	be := &BuildError{Diagnostics: got[:2]}
	if be.Error() != strs[0]+"\n"+strs[1] {
		t.Errorf("BuildError.Error() = %q", be.Error())
	}
	be = &BuildError{Output: "\n  go: something went wrong\n"}
	if be.Error() != "go: something went wrong" {
		t.Errorf("BuildError.Error() without diagnostics = %q", be.Error())
	}
}

// TestWorkersGoSum checks the go.sum lines the js build writes against
// mpmlab's own go.sum, which go get keeps right.
func TestWorkersGoSum(t *testing.T) {
	data, err := os.ReadFile("../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool)
	for _, line := range strings.Split(string(data), "\n") {
		have[line] = true
	}
	for _, line := range strings.Split(strings.TrimSpace(workersGoSum), "\n") {
		if !have[line] {
			t.Errorf("workersGoSum line not in ../go.sum: %s", line)
		}
	}
	if !strings.Contains(string(data), workersModule+" ") {
		t.Errorf("../go.sum has no lines for %s: update workersModule and workersGoSum", workersModule)
	}
}

// TestBuild runs the real go command. The subtests share one CacheDir (and
// the user's GOCACHE), so only the first build of each target is slow.
func TestBuild(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var progress []string
	b := &Builder{CacheDir: t.TempDir(), Progress: func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, msg)
	}}

	t.Run("GoVersion", func(t *testing.T) {
		v, err := b.GoVersion(ctx)
		if err != nil || !strings.HasPrefix(v, "go1.") {
			t.Fatalf("GoVersion() = %q, %v", v, err)
		}
	})

	t.Run("wasip1 then cached", func(t *testing.T) {
		src := mainGo(helloHandler)
		art, err := b.Build(ctx, src, TargetWASI)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("first build: %s", art.Elapsed)
		checkWasm(t, art.Path)
		if art.Cached || art.Target != TargetWASI || len(art.Hash) != 64 {
			t.Errorf("first build: %+v", art)
		}
		mu.Lock()
		got := strings.Join(progress, "\n")
		mu.Unlock()
		t.Logf("progress:\n%s", got)
		if !strings.Contains(got, "building handler for wasip1") || !strings.Contains(got, "built in") {
			t.Errorf("progress:\n%s\nwant the start and end messages", got)
		}

		again, err := b.Build(ctx, mainGo(helloHandler), TargetWASI)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Cached || again.Path != art.Path || again.Hash != art.Hash {
			t.Errorf("second build: %+v, want a cache hit of %+v", again, art)
		}
	})

	t.Run("concurrent builds of one source", func(t *testing.T) {
		src := mainGo(strings.Replace(helloHandler, `"hello"`, `"hello, concurrently"`, 1))
		var wg sync.WaitGroup
		arts := make([]*Artifact, 3)
		errs := make([]error, 3)
		for i := range arts {
			wg.Go(func() { arts[i], errs[i] = b.Build(ctx, src, TargetWASI) })
		}
		wg.Wait()
		built := 0
		for i := range arts {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !arts[i].Cached {
				built++
			}
		}
		if built != 1 {
			t.Errorf("%d of 3 concurrent builds ran the go command, want 1", built)
		}
		checkWasm(t, arts[0].Path)
	})

	t.Run("compile error", func(t *testing.T) {
		_, err := b.Build(ctx, mainGo(brokenHandler), TargetWASI)
		var be *BuildError
		if !errors.As(err, &be) {
			t.Fatalf("Build error = %v (%T), want a *BuildError", err, err)
		}
		want := []Diagnostic{{File: "main.go", Line: 5, Col: 2, Message: "undefined: nope"}}
		if !reflect.DeepEqual(be.Diagnostics, want) {
			t.Errorf("Diagnostics = %+v, want %+v\noutput:\n%s", be.Diagnostics, want, be.Output)
		}
		t.Logf("output:\n%s", be.Output)
		if be.Error() != "main.go:5:2: undefined: nope" {
			t.Errorf("Error() = %q", be.Error())
		}
	})

	t.Run("bad import", func(t *testing.T) {
		start := time.Now()
		_, err := b.Build(ctx, mainGo(badImportHandler), TargetWASI)
		var be *BuildError
		if !errors.As(err, &be) {
			t.Fatalf("Build error = %v (%T), want a *BuildError", err, err)
		}
		if len(be.Diagnostics) == 0 || be.Diagnostics[0].File != "main.go" || be.Diagnostics[0].Line != 3 || be.Diagnostics[0].Col != 8 {
			t.Errorf("Diagnostics = %+v, want main.go:3:8 first\noutput:\n%s", be.Diagnostics, be.Output)
		}
		if !strings.Contains(be.Error(), "example.com/nope") {
			t.Errorf("Error() = %q, want it to name the import", be.Error())
		}
		t.Logf("bad import failed in %s: %v", time.Since(start), err)
	})

	t.Run("invalid source", func(t *testing.T) {
		_, err := b.Build(ctx, mainGo("package lib\n"), TargetWASI)
		if err == nil || !strings.Contains(err.Error(), "want package main") {
			t.Errorf("Build error = %v, want the Validate error", err)
		}
	})

	t.Run("unknown target", func(t *testing.T) {
		_, err := b.Build(ctx, mainGo(helloHandler), Target("plan9"))
		if err == nil || !strings.Contains(err.Error(), `unknown build target "plan9"`) {
			t.Errorf("Build error = %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		tb := &Builder{CacheDir: b.CacheDir, Timeout: time.Millisecond}
		_, err := tb.Build(ctx, mainGo(strings.Replace(helloHandler, `"hello"`, `"too slow"`, 1)), TargetWASI)
		if err == nil || err.Error() != "build timed out after 1ms" {
			t.Errorf("Build error = %v, want a timeout", err)
		}
	})

	t.Run("go missing", func(t *testing.T) {
		nb := &Builder{CacheDir: b.CacheDir, GoCmd: filepath.Join(t.TempDir(), "go")}
		_, err := nb.Build(ctx, mainGo(helloHandler), TargetWASI)
		if err == nil || !strings.Contains(err.Error(), "go toolchain not found") {
			t.Errorf("Build error = %v, want go toolchain not found", err)
		}
	})

	t.Run("js", func(t *testing.T) {
		if testing.Short() {
			t.Skip("compiles the standard library for GOOS=js on a cold cache")
		}
		art, err := b.Build(ctx, mainGo(helloHandler), TargetJS)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("js build: %s", art.Elapsed)
		checkWasm(t, art.Path)
		wasi, err := b.Build(ctx, mainGo(helloHandler), TargetWASI)
		if err != nil {
			t.Fatal(err)
		}
		if wasi.Hash == art.Hash {
			t.Errorf("js and wasip1 builds share the key %s", art.Hash)
		}
	})

	t.Run("work dirs removed", func(t *testing.T) {
		entries, err := os.ReadDir(filepath.Join(b.CacheDir, "work"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("work dirs left behind: %v", entries)
		}
	})
}

func checkWasm(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x00asm")) {
		t.Errorf("%s does not start with \\x00asm (%d bytes)", path, len(data))
	}
}

// BenchmarkBuildWarm measures a rebuild after a one-line edit of a hello
// handler: a cache miss for the Builder, with the go command's build cache
// warm (the standard library and the SDK already compiled for wasm).
func BenchmarkBuildWarm(b *testing.B) {
	ctx := context.Background()
	bl := &Builder{CacheDir: b.TempDir()}
	if _, err := bl.Build(ctx, mainGo(helloHandler), TargetWASI); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		edited := strings.Replace(helloHandler, `"hello"`, fmt.Sprintf(`"hello %d %d"`, time.Now().UnixNano(), i), 1)
		art, err := bl.Build(ctx, mainGo(edited), TargetWASI)
		if err != nil {
			b.Fatal(err)
		}
		if art.Cached {
			b.Fatal("edited source was a cache hit")
		}
	}
}
