package share_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mpmlab/mpmlab/playground/share"
	"github.com/mpmlab/mpmlab/playground/share/sharetest"
)

// TestHandlerMemStore runs the conformance suite against a MemStore.
func TestHandlerMemStore(t *testing.T) {
	mux := http.NewServeMux()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<script src="/app.js"></script>`))
	})
	(&share.Handler{Store: &share.MemStore{}, Page: page}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sharetest.Run(t, srv.URL, sharetest.Options{Page: true})
}
