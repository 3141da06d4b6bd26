package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCheckServe(t *testing.T) {
	const imp = "package main\n\nimport (\n\t\"net/http\"\n\n\t\"github.com/mpmlab/mpmlab/wasm/guest\"\n)\n\n"
	for _, tc := range []struct {
		name, src string
		want      string // "file:line:col" of the diagnostic; "" for none
	}{
		{"serves", imp + "func main() {\n\thttp.HandleFunc(\"/\", nil)\n\tguest.Serve(nil)\n}\n", ""},
		{"returns", imp + "func main() {\n\thttp.HandleFunc(\"/\", nil)\n}\n\nvar _ = guest.Worker\n", "main.go:9:6"},
		{"listens itself", imp + "func main() {\n\thttp.HandleFunc(\"/\", nil)\n\thttp.ListenAndServe(\":8080\", nil)\n}\n\nvar _ = guest.Worker\n", "main.go:11:2"},
		{"a server's method", imp + "func main() {\n\ts := &http.Server{}\n\ts.ListenAndServe()\n}\n\nvar _ = guest.Worker\n", "main.go:11:2"},
		{"no import", "package main\n\nfunc main() {}\n", "main.go:3:6"},
		{"through a helper", imp + "func main() { run() }\n\nfunc run() {\n\thttp.HandleFunc(\"/\", nil)\n\tguest.Serve(nil)\n}\n", ""},
		{"through a method", imp + "type app struct{}\n\nfunc (app) start() { guest.Serve(http.DefaultServeMux) }\n\nfunc main() { app{}.start() }\n", ""},
		{"through a closure", imp + "func main() {\n\tserve := func() { guest.Serve(nil) }\n\tdefer serve()\n\t_ = http.StatusOK\n}\n", ""},
		{"in init", imp + "func init() { guest.Serve(nil) }\n\nfunc main() { _ = http.StatusOK }\n", ""},
		{"only in dead code", imp + "func main() { _ = http.StatusOK }\n\nfunc unused() { guest.Serve(nil) }\n", "main.go:9:6"},
		{"renamed import", "package main\n\nimport sdk \"github.com/mpmlab/mpmlab/wasm/guest\"\n\nfunc main() { sdk.Serve(nil) }\n", ""},
		{"dot import", "package main\n\nimport . \"github.com/mpmlab/mpmlab/wasm/guest\"\n\nfunc main() { Serve(nil) }\n", ""},
		{"does not parse", "package main\n\nfunc main() {\n", ""},
		{"no main", "package main\n\nfunc helper() {}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := checkServe(mainGo(tc.src))
			switch {
			case tc.want == "" && d != nil:
				t.Errorf("diagnostic %v for a handler that serves (or that the compiler should judge)", d)
			case tc.want != "" && d == nil:
				t.Errorf("no diagnostic, want one at %s", tc.want)
			case tc.want != "" && !strings.HasPrefix(d.String(), tc.want+": main never calls guest.Serve: call guest.Serve(nil) at the end of main"):
				t.Errorf("diagnostic %q, want one at %s naming guest.Serve", d, tc.want)
			}
		})
	}
	if d := checkServe(mainGo("package main\n\nfunc main() {}\n")); d == nil || !strings.Contains(d.Message, `importing "github.com/mpmlab/mpmlab/wasm/guest"`) {
		t.Errorf("without the import, the diagnostic %v does not say what to import", d)
	}
	for _, name := range ExampleNames() {
		src, err := ExampleSource(name)
		if err != nil {
			t.Fatal(err)
		}
		if d := checkServe(src); d != nil {
			t.Errorf("example %s: %v", name, d)
		}
	}
}

// Build refuses a handler that compiles but never serves, at main's line,
// built or cached; the go command's errors still come first.
func TestBuildRefusesNoServe(t *testing.T) {
	b := &Builder{CacheDir: t.TempDir()}
	src := mainGo("package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n")
	for i := range 2 { // the second build finds the module in the cache
		_, err := b.Build(context.Background(), src, TargetWASI)
		var be *BuildError
		if !errors.As(err, &be) || !be.NoServe || len(be.Diagnostics) != 1 || be.Diagnostics[0].Line != 5 || !strings.Contains(err.Error(), "guest.Serve") {
			t.Fatalf("build %d: err = %#v, want a NoServe BuildError at line 5 naming guest.Serve", i+1, err)
		}
	}
	_, err := b.Build(context.Background(), mainGo(brokenHandler), TargetWASI)
	var be *BuildError
	if !errors.As(err, &be) || be.NoServe || !strings.Contains(err.Error(), "undefined: nope") {
		t.Fatalf("err = %v, want the compile error", err)
	}
}
