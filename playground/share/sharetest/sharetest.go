// Package sharetest is the conformance suite of the share endpoints: every
// host that serves package share (mpmlab serve with bbolt, the Worker under
// wrangler with R2, a MemStore in a test) must pass Run against its base
// URL.
//
//	srv := httptest.NewServer(handler)
//	sharetest.Run(t, srv.URL, sharetest.Options{})
//
// It speaks HTTP only, so it tests a host as a browser or curl sees it.
package sharetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Options say what the host under test serves besides the API.
type Options struct {
	// Page: GET /p/{id} is the front end's page (text/html, 200). When
	// false only "not a 404 from the API" is checked (mpmlab serve answers
	// 503 until the front end is built).
	Page bool
	// Client sends the requests (default one with a 30 s timeout).
	Client *http.Client
}

// Experiment returns a valid experiment whose id differs with tag, so
// that a run can tell its shares from those of earlier runs.
func Experiment(tag string) experiment.Experiment {
	return experiment.Experiment{
		Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\n// " + tag + "\nfunc main() {}\n"}}},
		Model:  "reactor",
		Load:   experiment.Load{Path: "/?ms=200", Concurrency: 4, Requests: 40},
	}
}

// Do sends one request and returns the status, the body and the headers.
func Do(t testing.TB, c *http.Client, method, url, contentType string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, data, resp.Header
}

// Post shares e on the host at base and returns its id; it fails the test
// unless the answer is 200 with the id e.ShareID().
func Post(t testing.TB, c *http.Client, base string, e experiment.Experiment) string {
	t.Helper()
	body, _ := json.Marshal(e)
	status, data, _ := Do(t, c, "POST", base+"/api/shares", "application/json", body)
	var res struct{ ID, URL, Fragment string }
	if status != http.StatusOK || json.Unmarshal(data, &res) != nil {
		t.Fatalf("POST /api/shares: %d %s", status, data)
	}
	if want := e.ShareID(); res.ID != want || res.URL != "/p/"+want || res.Fragment != "/#x="+e.EncodeFragment() {
		t.Fatalf("POST /api/shares: %s, want id %s, url /p/%s and the fragment", data, want, want)
	}
	return res.ID
}

// Run checks the share endpoints of the host at base: a share's id and
// canonical JSON, idempotence, and every error (400, 413, 415, 404).
func Run(t *testing.T, base string, opt Options) {
	c := opt.Client
	e := Experiment(fmt.Sprintf("sharetest %d", time.Now().UnixNano()))
	id := ""
	t.Run("create", func(t *testing.T) {
		id = Post(t, c, base, e)
		if again := Post(t, c, base, e); again != id {
			t.Fatalf("the same experiment shared twice got %s and %s", id, again)
		}
		// Defaults written out are the same experiment.
		n := e.Normalize()
		if got := Post(t, c, base, n); got != id {
			t.Fatalf("the experiment with its defaults filled in got %s, want %s", got, id)
		}
	})
	t.Run("get", func(t *testing.T) {
		if id == "" {
			t.Skip("no share")
		}
		status, data, h := Do(t, c, "GET", base+"/api/shares/"+id, "", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /api/shares/%s: %d %s", id, status, data)
		}
		if want := append(e.Canonical(), '\n'); !bytes.Equal(data, want) {
			t.Fatalf("GET /api/shares/%s:\n%s\nwant the canonical JSON\n%s", id, data, want)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
	})
	t.Run("page", func(t *testing.T) {
		if id == "" {
			t.Skip("no share")
		}
		status, data, h := Do(t, c, "GET", base+"/p/"+id, "", nil)
		if opt.Page {
			if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(data, []byte("app.js")) {
				t.Fatalf("GET /p/%s: %d %s %.200q, want the page", id, status, h.Get("Content-Type"), data)
			}
		} else if status == http.StatusNotFound {
			t.Fatalf("GET /p/%s: 404 %s", id, data)
		}
	})
	t.Run("blobs", func(t *testing.T) { runBlobs(t, c, base) })
	big := Experiment("big")
	big.Source.Files[0].Data += "// " + strings.Repeat("x", experiment.MaxSourceSize) + "\n"
	bigBody, _ := json.Marshal(big)
	valid, _ := json.Marshal(Experiment("valid"))
	cases := []struct {
		name, method, path, contentType, body string
		status                                int
		says                                  string
	}{
		{"malformed", "POST", "/api/shares", "application/json", `{"source":`, 400, "json"},
		{"trailing", "POST", "/api/shares", "application/json", `{"model":"thread"} trailing`, 400, "after the value"},
		{"unknown field", "POST", "/api/shares", "application/json", `{"modle":"thread"}`, 400, "modle"},
		{"bad knob", "POST", "/api/shares", "application/json", `{"source":{"files":[{"name":"main.go","data":"package main"}]},"knobs":{"loops":99}}`, 400, "knobs.loops 99 out of range"},
		{"bad file name", "POST", "/api/shares", "application/json", `{"source":{"files":[{"name":"../main.go","data":"package main"}]}}`, 400, "source.files"},
		{"source too large", "POST", "/api/shares", "application/json", string(bigBody), 413, "source is"},
		{"body too large", "POST", "/api/shares", "application/json", `{"source":` + strings.Repeat(" ", 300<<10) + `}`, 413, "request body over"},
		{"not json", "POST", "/api/shares", "text/plain", string(valid), 415, "application/json"},
		{"unknown", "GET", "/api/shares/AAAAAAAAAAA", "", "", 404, "no share AAAAAAAAAAA"},
		{"not an id", "GET", "/api/shares/short", "", "", 404, "no share"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, data, _ := Do(t, c, tc.method, base+tc.path, tc.contentType, []byte(tc.body))
			var res struct{ Error string }
			json.Unmarshal(data, &res)
			if status != tc.status || !strings.Contains(res.Error, tc.says) {
				t.Fatalf("%s %s: %d %s, want %d saying %q", tc.method, tc.path, status, data, tc.status, tc.says)
			}
		})
	}
}

// PostBlob stores data on the host at base and returns its id; it fails
// the test unless the answer is 200 with the id share.BlobID(data).
func PostBlob(t testing.TB, c *http.Client, base string, data []byte) string {
	t.Helper()
	status, body, _ := Do(t, c, "POST", base+"/api/blobs", "application/octet-stream", data)
	var res struct {
		ID, URL string
		Bytes   int
	}
	sum := sha256.Sum256(data)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil || res.ID != want || res.URL != "/api/blobs/"+want || res.Bytes != len(data) {
		t.Fatalf("POST /api/blobs (%d bytes): %d %s, want id %s", len(data), status, body, want)
	}
	return res.ID
}

// runBlobs checks the blob endpoints and a share that names blobs.
func runBlobs(t *testing.T, c *http.Client, base string) {
	rec := []byte(fmt.Sprintf("a recording %d", time.Now().UnixNano()))
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), rec...)
	recID, wasmID := PostBlob(t, c, base, rec), PostBlob(t, c, base, wasm)
	if again := PostBlob(t, c, base, rec); again != recID {
		t.Fatalf("the same blob twice: %s, %s", recID, again)
	}
	for _, b := range []struct {
		id    string
		data  []byte
		ctype string
	}{{recID, rec, "application/octet-stream"}, {wasmID, wasm, "application/wasm"}} {
		status, data, h := Do(t, c, "GET", base+"/api/blobs/"+b.id, "", nil)
		if status != 200 || !bytes.Equal(data, b.data) || h.Get("Content-Type") != b.ctype {
			t.Errorf("GET /api/blobs/%s: %d %s %q, want 200 %s with the blob", b.id, status, h.Get("Content-Type"), data, b.ctype)
		}
	}
	e := Experiment(fmt.Sprintf("with blobs %d", time.Now().UnixNano()))
	e.Recording, e.BrowserBuild = recID, wasmID
	e.Browser = &experiment.Browser{Model: "page-loop"}
	id := Post(t, c, base, e)
	status, data, _ := Do(t, c, "GET", base+"/api/shares/"+id, "", nil)
	if status != 200 || !bytes.Equal(data, append(e.Canonical(), '\n')) || !bytes.Contains(data, []byte(`"browser":{"model":"page-loop","workers":2}`)) {
		t.Fatalf("GET /api/shares/%s: %d %s, want the canonical JSON with the browser settings and blobs", id, status, data)
	}
	missing := Experiment("missing blob")
	missing.Recording = strings.Repeat("A", 43)
	body, _ := json.Marshal(missing)
	badBlob := Experiment("bad blob id")
	badBlob.BrowserBuild = "short"
	badBody, _ := json.Marshal(badBlob)
	badBrowser := Experiment("bad browser")
	badBrowser.Browser = &experiment.Browser{Model: "fork"}
	badBrowserBody, _ := json.Marshal(badBrowser)
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		says                      string
	}{
		{"missing blob", "POST", "/api/shares", "application/json", body, 400, "recording: no blob"},
		{"bad blob id", "POST", "/api/shares", "application/json", badBody, 400, "browser_build"},
		{"bad browser model", "POST", "/api/shares", "application/json", badBrowserBody, 400, "browser.model"},
		{"blob not octet-stream", "POST", "/api/blobs", "text/plain", rec, 415, "application/octet-stream"},
		{"empty blob", "POST", "/api/blobs", "application/octet-stream", nil, 400, "empty"},
		{"blob too large", "POST", "/api/blobs", "application/octet-stream", make([]byte, maxBlobSize+1), 413, "blob over"},
		{"unknown blob", "GET", "/api/blobs/" + strings.Repeat("A", 43), "", nil, 404, "no blob"},
		{"not a blob id", "GET", "/api/blobs/short", "", nil, 404, "no blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, data, _ := Do(t, c, tc.method, base+tc.path, tc.ctype, tc.body)
			var res struct{ Error string }
			json.Unmarshal(data, &res)
			if status != tc.status || !strings.Contains(res.Error, tc.says) {
				t.Fatalf("%s %s: %d %.300s, want %d saying %q", tc.method, tc.path, status, data, tc.status, tc.says)
			}
		})
	}
}

// maxBlobSize is share.MaxBlobSize, spelled out: the suite checks the
// limit a host enforces, not the constant.
const maxBlobSize = 16 << 20
