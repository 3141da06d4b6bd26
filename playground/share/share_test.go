package share_test

import (
	"context"
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

// TestHandlerRemoteStore runs the conformance suite against a host that
// publishes to another (RemoteStore, as mpmlab serve --share-service),
// and checks that what it stored is on the other.
func TestHandlerRemoteStore(t *testing.T) {
	service := http.NewServeMux()
	stored := &share.MemStore{}
	(&share.Handler{Store: stored}).Register(service)
	svc := httptest.NewServer(service)
	defer svc.Close()
	remote, err := share.NewRemoteStore(svc.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	local := http.NewServeMux()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("the page")) })
	(&share.Handler{Store: remote, Base: remote.Base, Page: page}).Register(local)
	srv := httptest.NewServer(local)
	defer srv.Close()
	sharetest.Run(t, srv.URL, sharetest.Options{})
	e := sharetest.Experiment("remote")
	id := sharetest.Post(t, nil, srv.URL, e)
	if data, _ := stored.Get(context.Background(), share.SharePrefix+id); string(data) != string(e.Canonical()) {
		t.Fatalf("the service stored %q under %s, want the canonical JSON", data, id)
	}
	for _, bad := range []string{"share.example", "ftp://x", "https://x/path", ""} {
		if _, err := share.NewRemoteStore(bad); err == nil {
			t.Errorf("NewRemoteStore(%q) accepted", bad)
		}
	}
}
