package share

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// BlobID returns the content address of a blob: the unpadded base64url of
// its SHA-256 (43 characters).
func BlobID(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (h *Handler) createBlob(w http.ResponseWriter, r *http.Request) {
	if h.Allow != nil && !h.Allow(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/octet-stream" {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "none"
		}
		WriteError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %s: POST /api/blobs takes application/octet-stream", ct))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBlobSize))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("blob over %d bytes (%d MiB)", MaxBlobSize, MaxBlobSize>>20))
		return
	case err != nil:
		WriteError(w, http.StatusBadRequest, "reading the blob: "+err.Error())
		return
	case len(data) == 0:
		WriteError(w, http.StatusBadRequest, "empty blob")
		return
	}
	id := BlobID(data)
	if err := h.Store.Put(r.Context(), BlobPrefix+id, data); err != nil {
		h.logf("blob %s: %v", id, err)
		h.storeFailed(w, "storing the blob", err)
		return
	}
	WriteJSON(w, http.StatusOK, BlobResponse{ID: id, URL: "/api/blobs/" + id, Bytes: len(data)})
}

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !IsBlobID(id) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no blob %q (a blob id is 43 characters of A-Z, a-z, 0-9, - and _)", id))
		return
	}
	data, err := h.Store.Get(r.Context(), BlobPrefix+id)
	if err != nil {
		h.logf("blob %s: %v", id, err)
		h.storeFailed(w, "reading the blob", err)
		return
	}
	if data == nil {
		WriteError(w, http.StatusNotFound, "no blob "+id)
		return
	}
	ctype := "application/octet-stream"
	if bytes.HasPrefix(data, wasmMagic) {
		ctype = "application/wasm" // a browser build: WebAssembly.compileStreaming needs it
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+id+`"`)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// wasmMagic starts every WebAssembly module.
var wasmMagic = []byte("\x00asm")

// IsBlobID reports whether s has the form of a blob id.
func IsBlobID(s string) bool { return experiment.IsBlobID(s) }
