package playground

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	goruntime "runtime"
	"testing"

	"github.com/mpmlab/mpmlab/playground/share/sharetest"
)

// TestShareBoltStore runs the share conformance suite against mpmlab
// serve's handler and its bbolt store, and checks that a share survives
// reopening the store.
func TestShareBoltStore(t *testing.T) {
	dir := t.TempDir()
	pg, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pg)
	sharetest.Run(t, srv.URL, sharetest.Options{Page: pg.static.built()})
	e := sharetest.Experiment("survives a restart")
	id := sharetest.Post(t, nil, srv.URL, e)
	srv.Close()
	pg.Close()

	pg, err = New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	srv = httptest.NewServer(pg)
	defer srv.Close()
	status, data, _ := sharetest.Do(t, nil, "GET", srv.URL+"/api/shares/"+id, "", nil)
	if status != 200 || !bytes.Equal(data, append(e.Canonical(), '\n')) {
		t.Fatalf("after reopening the store: GET /api/shares/%s: %d %s", id, status, data)
	}
}

// TestHostInfo checks GET /api/host: the machine a recording is made on.
func TestHostInfo(t *testing.T) {
	pg, err := New(Config{DataDir: t.TempDir(), ShareService: "https://share.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	srv := httptest.NewServer(pg)
	defer srv.Close()
	status, data, _ := sharetest.Do(t, nil, "GET", srv.URL+"/api/host", "", nil)
	var info hostInfo
	if status != 200 || json.Unmarshal(data, &info) != nil {
		t.Fatalf("GET /api/host: %d %s", status, data)
	}
	if want := (hostInfo{Cores: goruntime.NumCPU(), OS: goruntime.GOOS, Arch: goruntime.GOARCH, Go: goruntime.Version(), ShareService: "https://share.example"}); info != want {
		t.Fatalf("GET /api/host: %+v, want %+v", info, want)
	}
	if _, err := New(Config{DataDir: t.TempDir(), ShareService: "share.example/x"}); err == nil {
		t.Fatal("a share service that is not an origin was accepted")
	}
}
