// Package share defines the playground's share endpoints once, for every
// host that serves them: `mpmlab serve` with its embedded bbolt store
// (package playground) and the share service on Cloudflare Workers
// (cmd/mpmlab-share, GOOS=js) with R2. Both register the same Handler, so
// one experiment has one id, one canonical JSON and the same errors on
// both.
//
//	h := &share.Handler{Store: store, Page: indexHTML}
//	h.Register(mux) // POST /api/shares, GET /api/shares/{id}, POST /api/blobs, GET /api/blobs/{id}, GET /p/{id}
//
// A share is an experiment's canonical JSON (experiment.Experiment.Canonical)
// stored under its content address (experiment.Experiment.ShareID). Larger
// things a share carries — its recorded run, the handler's browser build —
// are blobs: bytes stored under the base64url SHA-256 of their content
// (BlobID), which the experiment names.
//
// # Notes
//
//   - Everything is content-addressed: a put of an id that exists is a
//     no-op, so no request can overwrite what another stored, and a repeated
//     Share costs nothing. There is no listing.
//   - Bodies are capped (MaxBodySize for a share, MaxBlobSize for a blob);
//     a public host also sets Handler.Allow to limit writes per client.
//   - The package depends on the standard library and wasm/experiment only,
//     so that it builds for GOOS=js (the Worker) as well as for the host.
package share

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Limits of the share endpoints.
const (
	// MaxBodySize caps a JSON request body: a 64 KiB source with JSON
	// escaping and the rest of an experiment fits well within it.
	MaxBodySize = 256 << 10
	// MaxBlobSize caps a blob: a handler's browser build is about 5.9 MB
	// (1.7 MB gzipped), a bounded recording a few MiB at most.
	MaxBlobSize = 16 << 20
)

// Keys of the store: a share's and a blob's.
const (
	SharePrefix = "shares/"
	BlobPrefix  = "blobs/"
)

// Store keeps shares and blobs under string keys (SharePrefix + id,
// BlobPrefix + id).
//
// # Notes
//
//   - Keys are content addresses: Put of a key that exists must leave the
//     stored value as it is (it is the same bytes, or a hash collision the
//     store may report as an error).
//   - Get of a missing key returns nil data and no error.
//   - Implementations must be safe for concurrent use.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Handler serves the share endpoints over a Store. Its zero value is not
// usable: Store is required.
type Handler struct {
	// Store holds the shares and blobs.
	Store Store
	// Check validates an experiment before it is stored (default
	// experiment.Validate). The host adds its engine's own checks; its
	// errors are answered 400, or 413 for an *experiment.SizeError.
	Check func(experiment.Experiment) error
	// Page serves GET /p/{id}: the front end's index.html, which reads the
	// id from its path and loads the share.
	Page http.Handler
	// Allow, when set, is asked before every write (POST); it returns
	// false after writing its own answer (429).
	Allow func(w http.ResponseWriter, r *http.Request) bool
	// Logf prints store failures. May be nil.
	Logf func(format string, args ...any)
	// Base, when set, is the origin the links are on (Response.Base): a
	// host that publishes to a share service (RemoteStore) sets it to the
	// service's.
	Base string
}

// Register adds the share endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/shares", h.createShare)
	mux.HandleFunc("GET /api/shares/{id}", h.getShare)
	mux.HandleFunc("POST /api/blobs", h.createBlob)
	mux.HandleFunc("GET /api/blobs/{id}", h.getBlob)
	mux.HandleFunc("HEAD /api/blobs/{id}", h.getBlob)
	if h.Page != nil {
		mux.Handle("GET /p/{id}", h.Page)
	}
}

// BlobResponse is the answer to POST /api/blobs.
type BlobResponse struct {
	ID    string `json:"id"`
	URL   string `json:"url"` // "/api/blobs/<id>"
	Bytes int    `json:"bytes"`
}

// Response is the answer to POST /api/shares.
type Response struct {
	ID  string `json:"id"`
	URL string `json:"url"` // "/p/<id>"
	// Fragment is the link that carries the whole experiment instead:
	// "/#x=<experiment.EncodeFragment>".
	Fragment string `json:"fragment"`
	// Base is the origin of the links when it is not this host's: the
	// share service this host published to ("https://…"), else absent.
	Base string `json:"base,omitempty"`
}

// storeFailed answers a store's failure: a share service's refusal with
// its own status, anything else 500.
func (h *Handler) storeFailed(w http.ResponseWriter, what string, err error) {
	var se *StatusError
	if errors.As(err, &se) {
		WriteError(w, se.Status, se.Message)
		return
	}
	WriteError(w, http.StatusInternalServerError, what+": "+err.Error())
}

func (h *Handler) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

func (h *Handler) createShare(w http.ResponseWriter, r *http.Request) {
	if h.Allow != nil && !h.Allow(w, r) {
		return
	}
	var e experiment.Experiment
	if !Decode(w, r, &e, MaxBodySize) {
		return
	}
	check := h.Check
	if check == nil {
		check = experiment.Experiment.Validate
	}
	e, ok := CheckExperiment(w, e, check)
	if !ok {
		return
	}
	for _, ref := range e.Blobs() {
		data, err := h.Store.Get(r.Context(), BlobPrefix+ref.ID)
		if err != nil {
			h.logf("share: blob %s: %v", ref.ID, err)
			h.storeFailed(w, "reading the share store", err)
			return
		}
		if data == nil {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("%s: no blob %s (POST /api/blobs it first)", ref.Field, ref.ID))
			return
		}
	}
	id := e.ShareID()
	if err := h.Store.Put(r.Context(), SharePrefix+id, e.Canonical()); err != nil {
		h.logf("share %s: %v", id, err)
		h.storeFailed(w, "storing the share", err)
		return
	}
	WriteJSON(w, http.StatusOK, Response{ID: id, URL: "/p/" + id, Fragment: "/#x=" + e.EncodeFragment(), Base: h.Base})
}

func (h *Handler) getShare(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !experiment.IsShareID(id) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no share %q (a share id is 11 characters of A-Z, a-z, 0-9, - and _)", id))
		return
	}
	data, err := h.Store.Get(r.Context(), SharePrefix+id)
	if err != nil {
		h.logf("share %s: %v", id, err)
		h.storeFailed(w, "reading the share", err)
		return
	}
	if data == nil {
		WriteError(w, http.StatusNotFound, "no share "+id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Content-addressed: the same id is always the same experiment.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(append(data, '\n'))
}

// WriteJSON writes v as the JSON response with the given status, not to
// be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error: unencodable response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError writes the API's error answer, {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// Decode reads the request body as JSON into v, strictly (unknown fields
// are errors), within limit bytes. On failure it writes the 415 (not sent
// as application/json), 400 or 413 and returns false.
//
// Requiring application/json keeps foreign pages out: a page can send
// text/plain, a form or nothing cross-origin without a preflight, but
// application/json only after one, which only an allowed origin passes.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	if ct := r.Header.Get("Content-Type"); !IsJSON(ct) {
		if ct == "" {
			ct = "none"
		}
		WriteError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %s: this endpoint takes application/json", ct))
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := experiment.DecodeJSON(r.Body, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes (%d KiB); the source limit is %d KiB", limit, limit>>10, experiment.MaxSourceSize>>10))
			return false
		}
		WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// IsJSON reports whether a Content-Type is application/json (parameters
// such as charset allowed).
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// CheckExperiment validates e with check and returns it normalized; on
// failure it writes the 400 (a field out of range) or 413 (the source too
// large) and returns false.
func CheckExperiment(w http.ResponseWriter, e experiment.Experiment, check func(experiment.Experiment) error) (experiment.Experiment, bool) {
	if err := check(e); err != nil {
		status := http.StatusBadRequest
		var se *experiment.SizeError
		if errors.As(err, &se) {
			status = http.StatusRequestEntityTooLarge
		}
		WriteError(w, status, err.Error())
		return e, false
	}
	return e.Normalize(), true
}
