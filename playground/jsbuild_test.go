package playground

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The browser's long-lived instance (wasm/guest/serve_js.go, www/goserver.js)
// rests on syumai/workers' ServeNonBlock and Ready, its binding of
// handleRequest on globalThis.context.binding at init, and its wasm import
// workers.ready. The version is pinned; this test fails when the pin moves
// or the pinned source no longer has what the loader relies on, and
// TestBrowserModels (cmd/mpmlab) checks the behaviour in a real browser.
func TestWorkersPinned(t *testing.T) {
	const want = "github.com/syumai/workers v0.33.0"
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*github\.com/syumai/workers v0\.33\.0\s*$`).Match(mod) {
		t.Fatalf("go.mod does not pin %s: the browser loader (www/goserver.js) was checked against it; re-check it (and TestBrowserModels) before moving the pin", want)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com/syumai/workers@v0.33.0")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go mod download)", err)
		}
		return string(b)
	}
	handler := read("handler_js.go")
	for _, s := range []string{
		"func ServeNonBlock(handler http.Handler)",
		"func Ready()",
		"//go:wasmimport workers ready",
		`jsutil.Binding.Set("handleRequest"`,
	} {
		if !strings.Contains(handler, s) {
			t.Errorf("syumai/workers handler_js.go has no %q", s)
		}
	}
	if js := read("internal/jsutil/jsutil.go"); !strings.Contains(js, `js.Global().Get("context").Get("binding")`) {
		t.Errorf(`syumai/workers no longer reads globalThis.context.binding, which www/goserver.js sets`)
	}
}

func TestWasmNotFound(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, path := range []string{
		"/api/wasm/nope.wasm",
		"/api/wasm/" + strings.Repeat("a", 64), // no .wasm
		"/api/wasm/" + strings.Repeat("a", 64) + ".wasm",
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost"+path, nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	// A module of another target in the build cache is not served.
	hash := strings.Repeat("b", 64)
	os.MkdirAll(filepath.Join(s.cfg.CacheDir, "wasm"), 0o755)
	os.WriteFile(filepath.Join(s.cfg.CacheDir, "wasm", hash+".wasm"), []byte("\x00asm\x01\x00\x00\x00\x16wasi_snapshot_preview1"), 0o644)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/api/wasm/"+hash+".wasm", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("a wasip1 module was served: %d", rec.Code)
	}
	// A js module built by an earlier server is.
	os.WriteFile(filepath.Join(s.cfg.CacheDir, "wasm", hash+".wasm"), []byte("\x00asm\x01\x00\x00\x00\x04gojs"), 0o644)
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "http://localhost/api/wasm/"+hash+".wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	s.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("js module: %d %v", rec.Code, rec.Header())
	}
	req.Header.Set("If-None-Match", `"`+hash+`"`)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}
}
