//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall/js"

	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/fetch"
	"github.com/syumai/workers/cloudflare/r2"

	"github.com/mpmlab/mpmlab/playground/share"
)

// Bindings of wrangler.toml.
const (
	bucketBinding = "SHARES" // R2: the shares and blobs
	assetsBinding = "ASSETS" // the front end (www/)
	limitBinding  = "WRITES" // rate limit: writes per client address
)

// r2Store is a share.Store over an R2 bucket: each key one object.
//
// # Notes
//
//   - R2 is strongly consistent: a share read anywhere right after its put
//     is found (see RATIONALE.md for why not KV).
//   - Keys are content addresses, so Put skips a key that exists (a head
//     request, no write): nothing stored is ever overwritten.
type r2Store struct {
	binding string
}

func (s *r2Store) bucket() (*r2.Bucket, error) {
	b, err := r2.NewBucket(s.binding)
	if err != nil {
		return nil, fmt.Errorf("R2 binding %s: %w (see wrangler.toml)", s.binding, err)
	}
	return b, nil
}

// Put stores data under key unless an object is there already.
func (s *r2Store) Put(_ context.Context, key string, data []byte) error {
	b, err := s.bucket()
	if err != nil {
		return err
	}
	old, err := b.Head(key)
	if err != nil {
		return fmt.Errorf("R2 head %s: %w", key, err)
	}
	if old != nil {
		if old.Size != len(data) {
			return fmt.Errorf("%s collides with different content", key)
		}
		return nil
	}
	if _, err := b.Put(key, io.NopCloser(bytes.NewReader(data)), nil); err != nil {
		return fmt.Errorf("R2 put %s: %w", key, err)
	}
	return nil
}

// Get returns the object under key, or nil.
func (s *r2Store) Get(_ context.Context, key string) ([]byte, error) {
	b, err := s.bucket()
	if err != nil {
		return nil, err
	}
	obj, err := b.Get(key)
	if err != nil {
		return nil, fmt.Errorf("R2 get %s: %w", key, err)
	}
	if obj == nil {
		return nil, nil
	}
	data, err := io.ReadAll(obj.Body)
	if err != nil {
		return nil, fmt.Errorf("R2 get %s: %w", key, err)
	}
	return data, nil
}

// servePage serves the front end's index.html from the static assets: the
// page for "/" and "/p/{id}" (it reads the id from its path).
func servePage(w http.ResponseWriter, r *http.Request) { serveAsset(w, "/", "no-cache") }

// serveExamples serves GET /api/examples from the static assets
// (examples.json, written by make share-build from playground.Examples).
func serveExamples(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, "/examples.json", "public, max-age=300")
}

// serveAsset answers with the static asset at path (ASSETS binding).
func serveAsset(w http.ResponseWriter, path, cacheControl string) {
	assets := cloudflare.GetBinding(assetsBinding)
	if assets.IsUndefined() {
		share.WriteError(w, http.StatusInternalServerError, "no ASSETS binding (see wrangler.toml)")
		return
	}
	client := fetch.NewClient(fetch.WithBinding(assets)).HTTPClient(fetch.RedirectModeFollow)
	resp, err := client.Get("https://assets.local" + path)
	if err != nil {
		share.WriteError(w, http.StatusBadGateway, "reading "+path+" from the assets: "+err.Error())
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "ETag"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Cache-Control", cacheControl)
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// allowWrite asks the WRITES rate limit binding whether the client (its
// address as Cloudflare saw it, CF-Connecting-IP, which a client cannot
// set) may write; past its limit it answers 429. Without the binding
// every write is allowed.
func allowWrite(w http.ResponseWriter, r *http.Request) bool {
	limiter := cloudflare.GetBinding(limitBinding)
	if limiter.IsUndefined() {
		return true
	}
	key := r.Header.Get("CF-Connecting-IP")
	if key == "" {
		key = "unknown"
	}
	opts := js.Global().Get("Object").New()
	opts.Set("key", key)
	res, err := await(limiter.Call("limit", opts))
	if err != nil || res.Get("success").Bool() {
		return true // a failing limiter must not take shares down
	}
	w.Header().Set("Retry-After", "60")
	share.WriteError(w, http.StatusTooManyRequests, "too many shares from this address; try again in a minute")
	return false
}

// await waits for a JavaScript promise (from a goroutine that may block).
func await(p js.Value) (js.Value, error) {
	ok, fail := make(chan js.Value, 1), make(chan js.Value, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any { ok <- args[0]; return nil })
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any { fail <- args[0]; return nil })
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	select {
	case v := <-ok:
		return v, nil
	case e := <-fail:
		return js.Value{}, fmt.Errorf("%s", e.Call("toString").String())
	}
}
