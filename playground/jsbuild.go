package playground

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
)

// Browser builds: the handler's source built for GOOS=js, where the guest
// SDK's Serve hands the handler to github.com/syumai/workers, and served to
// the page (www/handlers.js runs it in the tab).
//
//	POST /api/build/js {"source": Source}  → {"hash", "url": "/api/wasm/<hash>.wasm", ...}
//	GET  /api/wasm/<hash>.wasm             → the module, gzip-compressed, cached for a year
//
// The URL names the module's content (the build's cache key), so the
// browser may keep it forever; the page also keeps it in memory, which is
// how the browser models keep working when the host stops.

// Limits of browser builds.
const (
	// maxJSModules caps the js modules kept in memory, compressed. An
	// evicted module is compressed again from the build cache when asked for.
	maxJSModules = 16
	// wasmMaxAge is how long a browser may keep a module: its URL names its
	// content, so it never changes.
	wasmMaxAge = 365 * 24 * time.Hour
)

// jsBuildResponse is the answer of POST /api/build/js.
type jsBuildResponse struct {
	Hash      string  `json:"hash"`
	Cached    bool    `json:"cached"`
	ElapsedMS float64 `json:"elapsed_ms"`
	URL       string  `json:"url"`        // where the module is served
	Bytes     int     `json:"bytes"`      // the module's size
	GzipBytes int     `json:"gzip_bytes"` // its size as served
}

// jsModules remembers the js modules built by this server, by hash, and
// keeps the most recently used ones gzip-compressed in memory.
type jsModules struct {
	mu    sync.Mutex
	paths map[string]string    // hash → the module in the build cache
	mods  map[string]*jsModule // compressed, at most maxJSModules
	used  map[string]time.Time // last use of each entry of mods
}

type jsModule struct {
	raw, gz []byte
}

func newJSModules() *jsModules {
	return &jsModules{paths: map[string]string{}, mods: map[string]*jsModule{}, used: map[string]time.Time{}}
}

// add records a built module and compresses it, so that the page's first
// GET does not wait for it.
func (j *jsModules) add(art *runtime.Artifact) (*jsModule, error) {
	j.mu.Lock()
	j.paths[art.Hash] = art.Path
	j.mu.Unlock()
	return j.get(art.Hash)
}

// get returns the module with hash, compressing it if it is not in memory.
// A hash this server has not built is looked for in the build cache, and
// served only if it is a js module (it imports Go's "gojs" host module).
func (j *jsModules) get(hash string) (*jsModule, error) {
	j.mu.Lock()
	if m, ok := j.mods[hash]; ok {
		j.used[hash] = time.Now()
		j.mu.Unlock()
		return m, nil
	}
	path := j.paths[hash]
	j.mu.Unlock()
	if path == "" {
		return nil, os.ErrNotExist
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(raw)
	zw.Close()
	m := &jsModule{raw: raw, gz: buf.Bytes()}

	j.mu.Lock()
	defer j.mu.Unlock()
	if old, ok := j.mods[hash]; ok {
		return old, nil
	}
	for len(j.mods) >= maxJSModules { // evict the least recently used
		var oldest string
		for h, t := range j.used {
			if oldest == "" || t.Before(j.used[oldest]) {
				oldest = h
			}
		}
		delete(j.mods, oldest)
		delete(j.used, oldest)
	}
	j.mods[hash] = m
	j.used[hash] = time.Now()
	return m, nil
}

// lookup finds a module built for js in cacheDir by an earlier server.
func (j *jsModules) lookup(cacheDir, hash string) bool {
	j.mu.Lock()
	_, ok := j.paths[hash]
	j.mu.Unlock()
	if ok {
		return true
	}
	path := filepath.Join(cacheDir, "wasm", hash+".wasm")
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64<<10) // the import section comes first
	n, _ := f.Read(head)
	if !bytes.HasPrefix(head[:n], []byte("\x00asm")) || !bytes.Contains(head[:n], []byte("\x04gojs")) {
		return false
	}
	j.mu.Lock()
	j.paths[hash] = path
	j.mu.Unlock()
	return true
}

// handleBuildJS builds the source for the browser. With ?progress=1 the
// answer is a stream of JSON lines: {"progress": "..."} while building,
// then one {"result": ...} or {"error": ..., "status": 422, ...}.
func (s *Server) handleBuildJS(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSource(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.requestContext(r) // Stop cancels it
	defer cancel()
	if r.URL.Query().Get("progress") == "" {
		res, err := s.buildJS(ctx, req, nil)
		if err != nil {
			writeBuildError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	line := func(v any) {
		b, _ := json.Marshal(v)
		mu.Lock()
		defer mu.Unlock()
		w.Write(append(b, '\n'))
		rc.Flush()
	}
	line(map[string]string{"progress": "building for the browser (GOOS=js)"})
	res, err := s.buildJS(ctx, req, func(msg string) { line(map[string]string{"progress": msg}) })
	if err != nil {
		rec := &recorder{header: http.Header{}}
		writeBuildError(rec, err)
		var body map[string]any
		json.Unmarshal(rec.body.Bytes(), &body)
		if body == nil {
			body = map[string]any{"error": strings.TrimSpace(rec.body.String())}
		}
		body["status"] = rec.status
		line(body)
		return
	}
	line(map[string]any{"result": res})
}

// buildJS builds for GOOS=js and compresses the module.
func (s *Server) buildJS(ctx context.Context, req sourceRequest, progress func(string)) (*jsBuildResponse, error) {
	art, err := s.buildFor(ctx, req.Source, runtime.TargetJS, progress)
	if err != nil {
		return nil, err
	}
	m, err := s.jsMods.add(art)
	if err != nil {
		return nil, fmt.Errorf("reading the built module: %w", err)
	}
	return &jsBuildResponse{
		Hash: art.Hash, Cached: art.Cached, ElapsedMS: ms(art.Elapsed),
		URL: "/api/wasm/" + art.Hash + ".wasm", Bytes: len(m.raw), GzipBytes: len(m.gz),
	}, nil
}

// handleWasm serves a js module by its hash, gzip-compressed to clients
// that accept it, with a year's cache lifetime.
func (s *Server) handleWasm(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	hash, ok := strings.CutSuffix(file, ".wasm")
	if !ok || !isHexHash(hash) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no module %s: want /api/wasm/<64 hex digits>.wasm", file))
		return
	}
	if !s.jsMods.lookup(s.cfg.CacheDir, hash) {
		writeError(w, http.StatusNotFound, "no browser module "+hash+": build it first (POST /api/build/js)")
		return
	}
	m, err := s.jsMods.get(hash)
	if err != nil {
		writeError(w, http.StatusNotFound, "no browser module "+hash+": "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(wasmMaxAge/time.Second))+", immutable")
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("If-None-Match"), hash) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data := m.raw
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		data = m.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// recorder captures what writeBuildError writes, to send it as a line of
// the progress stream.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
