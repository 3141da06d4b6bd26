package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/www"
)

// notBuilt is the answer when the front end's build output (app.wasm,
// wasm_exec.js) is missing from the binary.
const notBuilt = "front end not built: run make run"

// static serves the embedded front end (www.FS). app.wasm is served
// gzip-compressed to clients that accept it (compressed once, on first
// use); every file carries an ETag of its content.
type static struct {
	fsys fs.FS

	mu    sync.Mutex
	files map[string]*staticFile
}

type staticFile struct {
	data, gz []byte // gz: compressed form, for large compressible files
	etag     string
}

func newStatic() *static { return &static{fsys: www.FS, files: map[string]*staticFile{}} }

// built reports whether the front end's build output is embedded.
func (s *static) built() bool {
	_, err1 := fs.Stat(s.fsys, "app.wasm")
	_, err2 := fs.Stat(s.fsys, "wasm_exec.js")
	return err1 == nil && err2 == nil
}

// file returns a file's content, ETag and (for app.wasm) gzip form.
func (s *static) file(name string) (*staticFile, bool) {
	s.mu.Lock()
	f, ok := s.files[name]
	s.mu.Unlock()
	if ok {
		return f, true
	}
	// Compress outside the lock: two first requests may both compress,
	// and one result is kept.
	data, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(data)
	f = &staticFile{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	if strings.HasSuffix(name, ".wasm") || len(data) > 64<<10 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression) // ~0.4 s for app.wasm; Best is 3× slower for 1.5% less
		zw.Write(data)
		zw.Close()
		f.gz = buf.Bytes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.files[name]; ok {
		return old, true
	}
	s.files[name] = f
	return f, true
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" || name == "index.html" {
		s.serveIndex(w, r)
		return
	}
	if name == "www.go" || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	f, ok := s.file(name)
	if !ok {
		if name == "app.wasm" || name == "wasm_exec.js" {
			http.Error(w, notBuilt, http.StatusNotFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	s.serve(w, r, name, f)
}

// serveIndex serves index.html for "/" and "/p/{id}" (the app reads the
// share id from the path), or a page saying the front end is not built.
func (s *static) serveIndex(w http.ResponseWriter, r *http.Request) {
	f, ok := s.file("index.html")
	if !ok || !s.built() {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("<!doctype html><title>mpmlab</title><p>" + notBuilt + "</p>\n"))
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	s.serve(w, r, "index.html", f)
}

func (s *static) serve(w http.ResponseWriter, r *http.Request, name string, f *staticFile) {
	h := w.Header()
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes it cheap
	}
	switch path.Ext(name) {
	case ".wasm":
		h.Set("Content-Type", "application/wasm")
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	}
	data := f.data
	if f.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		data = f.gz
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
