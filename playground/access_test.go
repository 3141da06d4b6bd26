package playground

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newAccessServer is a playground with cfg's access settings that never
// runs a build or a worker.
func newAccessServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.DataDir, cfg.CacheDir, cfg.Executable = t.TempDir(), t.TempDir(), "/bin/false"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// send serves one request to s: host is its Host header, header pairs
// of name and value follow.
func send(s *Server, method, host, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func errorOf(rec *httptest.ResponseRecorder) string {
	var e struct{ Error string }
	json.Unmarshal(rec.Body.Bytes(), &e)
	return e.Error
}

var helloJSON = func() string { b, _ := json.Marshal(hello); return string(b) }()

// Only requests that name this server in their Host are served: DNS
// rebinding (a foreign name resolved to 127.0.0.1) gets 403, for the API
// and the front end alike.
func TestAccessHost(t *testing.T) {
	configs := map[string]Config{
		"loopback": {Addr: "127.0.0.1:8080"},
		"named":    {Addr: "127.0.0.1:8080", AllowedHosts: []string{"MyBox.lan", ".example.org", "[2001:db8::7]", "192.0.2.9"}},
		"any":      {Addr: "0.0.0.0:8080"},
		"any6":     {Addr: "[::]:8080"},
		"all":      {Addr: ":8080"},
		"lan":      {Addr: "192.168.1.5:8080"},
		"byname":   {Addr: "mybox.lan:8080"},
	}
	cases := []struct {
		config, host string
		ok           bool
	}{
		{"loopback", "127.0.0.1:8080", true},
		{"loopback", "127.0.0.1", true},
		{"loopback", "127.8.9.10:1", true},
		{"loopback", "localhost:8080", true},
		{"loopback", "LocalHost.:8080", true},
		{"loopback", "app.localhost:8080", true},
		{"loopback", "[::1]:8080", true},
		{"loopback", "[::ffff:127.0.0.1]:8080", true},
		{"loopback", "evil.example", false},
		{"loopback", "evil.example:8080", false},
		{"loopback", "localhost.evil.example:8080", false},
		{"loopback", "127.0.0.1.nip.io:8080", false},
		{"loopback", "192.168.1.5:8080", false},
		{"loopback", "", false},
		{"loopback", "mybox.lan:8080", false},
		{"loopback", "[::1]evil.example", false},
		{"loopback", "[::1", false},
		{"loopback", "localhost:8080evil", false},
		{"loopback", "localhost:", true},
		{"named", "mybox.lan:8080", true},
		{"named", "mybox.lan", true},
		{"named", "other.mybox.lan", false},
		{"named", "example.org", true},
		{"named", "a.b.example.org:8080", true},
		{"named", "badexample.org", false},
		{"named", "[2001:db8::7]:8080", true},
		{"named", "192.0.2.9:8080", true},
		{"named", "192.0.2.10:8080", false},
		{"named", "evil.example", false},
		{"any", "192.168.1.5:8080", true},
		{"any", "[2001:db8::1]:8080", true},
		{"any", "localhost:8080", true},
		{"any", "evil.example:8080", false},
		{"any6", "10.0.0.1:8080", true},
		{"any6", "evil.example", false},
		{"all", "10.0.0.1:8080", true},
		{"all", "evil.example", false},
		{"lan", "192.168.1.5:8080", true},
		{"lan", "192.168.1.6:8080", false},
		{"lan", "127.0.0.1:8080", true},
		{"byname", "MYBOX.LAN:8080", true},
		{"byname", "evil.example", false},
	}
	checks := map[string]*access{}
	for name, cfg := range configs {
		a, err := newAccess(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checks[name] = a
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/api/examples", nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		if ok := checks[c.config].admit(rec, req); ok != c.ok || !ok && (rec.Code != http.StatusForbidden || !strings.Contains(errorOf(rec), "--allow-host")) {
			t.Errorf("%s: Host %q: admitted %v (%d %q), want %v", c.config, c.host, ok, rec.Code, errorOf(rec), c.ok)
		}
	}
	// The server checks every request: the API, a share, the front end;
	// a state-changing one is refused before it does anything.
	s := newAccessServer(t, configs["loopback"])
	for _, path := range []string{"/api/examples", "/api/shares/AAAAAAAAAAA", "/", "/app.wasm"} {
		if rec := send(s, "GET", "localhost:8080", path, ""); rec.Code == http.StatusForbidden {
			t.Errorf("GET %s Host localhost: 403 %s", path, errorOf(rec))
		}
		if rec := send(s, "GET", "evil.example:8080", path, ""); rec.Code != http.StatusForbidden {
			t.Errorf("GET %s Host evil.example: %d, want 403", path, rec.Code)
		}
	}
	rec := send(s, "POST", "evil.example", "/api/shares", helloJSON, "Content-Type", "application/json")
	if rec.Code != http.StatusForbidden || errorOf(rec) != `host "evil.example" is not this server's name (it may be a DNS rebinding attack); to serve it, start mpmlab serve with --allow-host evil.example` {
		t.Errorf("POST with Host evil.example: %d %q", rec.Code, errorOf(rec))
	}
}

// A request that may change state is served only from this server's own
// page or an allowed origin; reads are served to any page (the browser
// keeps a foreign page from reading them); answers to an allowed origin
// carry CORS headers.
func TestAccessOrigin(t *testing.T) {
	s := newAccessServer(t, Config{Addr: "127.0.0.1:8080", AllowedOrigins: []string{"https://share.example", "http://localhost:3000/"}})
	const host = "127.0.0.1:8080"
	cases := []struct {
		method, path, origin, contentType string
		status                            int
		acao                              string // Access-Control-Allow-Origin
	}{
		{"POST", "/api/shares", "", "application/json", 200, ""},
		{"POST", "/api/shares", "http://127.0.0.1:8080", "application/json", 200, ""},
		{"POST", "/api/shares", "https://127.0.0.1:8080", "application/json", 200, ""}, // behind a TLS proxy
		{"POST", "/api/shares", "https://evil.example", "application/json", 403, ""},
		{"POST", "/api/shares", "https://evil.example", "text/plain", 403, ""},
		{"POST", "/api/shares", "null", "application/json", 403, ""},
		{"POST", "/api/shares", "http://localhost:8080", "application/json", 403, ""}, // another origin, same machine
		{"POST", "/api/shares", "http://127.0.0.1:9999", "application/json", 403, ""},
		{"POST", "/api/shares", "http://127.0.0.1:8080/x", "application/json", 403, ""},
		{"POST", "/api/shares", "https://share.example", "application/json", 200, "https://share.example"},
		{"POST", "/api/shares", "HTTPS://Share.Example:443", "application/json", 200, "HTTPS://Share.Example:443"},
		{"POST", "/api/shares", "http://share.example", "application/json", 403, ""},
		{"POST", "/api/shares", "https://share.example.evil.example", "application/json", 403, ""},
		{"POST", "/api/shares", "http://localhost:3000", "application/json", 200, "http://localhost:3000"},
		{"POST", "/api/runs", "https://evil.example", "text/plain", 403, ""},
		{"POST", "/api/runs", "http://127.0.0.1:8080", "text/plain", 415, ""},
		{"POST", "/api/runs", "", "text/plain", 415, ""},
		{"POST", "/api/build", "https://evil.example", "text/plain", 403, ""},
		{"POST", "/api/try", "https://evil.example", "text/plain", 403, ""},
		{"POST", "/api/runs/rnope/stop", "https://evil.example", "", 403, ""},
		{"POST", "/api/runs/rnope/stop", "http://127.0.0.1:8080", "", 404, ""},
		{"PUT", "/api/shares", "https://evil.example", "application/json", 403, ""},
		{"GET", "/api/examples", "https://evil.example", "", 200, ""},
		{"GET", "/api/shares/AAAAAAAAAAA", "https://evil.example", "", 404, ""},
		{"GET", "/api/shares/AAAAAAAAAAA", "https://share.example", "", 404, "https://share.example"},
	}
	for _, c := range cases {
		rec := send(s, c.method, host, c.path, helloJSON, "Origin", c.origin, "Content-Type", c.contentType)
		if rec.Code != c.status || rec.Header().Get("Access-Control-Allow-Origin") != c.acao {
			t.Errorf("%s %s from %q (%s): %d %q, Access-Control-Allow-Origin %q; want %d, %q",
				c.method, c.path, c.origin, c.contentType, rec.Code, errorOf(rec), rec.Header().Get("Access-Control-Allow-Origin"), c.status, c.acao)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Origin") {
			t.Errorf("%s %s from %q: Vary %q lacks Origin", c.method, c.path, c.origin, rec.Header().Get("Vary"))
		}
	}
	rec := send(s, "POST", host, "/api/shares", helloJSON, "Origin", "https://evil.example", "Content-Type", "application/json")
	if want := "origin https://evil.example may not call this host (the page's own origin is http://127.0.0.1:8080); to allow it, start mpmlab serve with --allow-origin https://evil.example"; errorOf(rec) != want {
		t.Errorf("403 says %q, want %q", errorOf(rec), want)
	}
}

// An allowed origin's preflight is answered with what it may send,
// Private Network Access included; any other origin's is refused.
func TestAccessPreflight(t *testing.T) {
	s := newAccessServer(t, Config{Addr: "127.0.0.1:8080", AllowedOrigins: []string{"https://share.example"}})
	preflight := func(origin, method string, private bool) *httptest.ResponseRecorder {
		h := []string{"Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "content-type,x-mpmlab-tab"}
		if private {
			h = append(h, "Access-Control-Request-Private-Network", "true")
		}
		return send(s, "OPTIONS", "127.0.0.1:8080", "/api/runs", "", h...)
	}
	rec := preflight("https://share.example", "POST", true)
	want := map[string]string{
		"Access-Control-Allow-Origin":          "https://share.example",
		"Access-Control-Allow-Methods":         "GET, HEAD, POST",
		"Access-Control-Allow-Headers":         "Content-Type, X-Mpmlab-Tab",
		"Access-Control-Allow-Private-Network": "true",
		"Access-Control-Max-Age":               "600",
	}
	if rec.Code != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", rec.Code, rec.Body)
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("preflight %s: %q, want %q", k, got, v)
		}
	}
	if v := strings.Join(rec.Header().Values("Vary"), ", "); !strings.Contains(v, "Origin") || !strings.Contains(v, "Access-Control-Request-Private-Network") {
		t.Errorf("preflight Vary %q", v)
	}
	if rec := preflight("https://share.example", "GET", false); rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Private-Network") != "" {
		t.Errorf("preflight without private network: %d %v", rec.Code, rec.Header())
	}
	for _, c := range []struct{ origin, method string }{
		{"https://evil.example", "POST"},
		{"null", "POST"},
		{"https://share.example", "DELETE"},
		{"https://share.example", "ET"},
	} {
		rec := preflight(c.origin, c.method, true)
		if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Allow-Private-Network") != "" {
			t.Errorf("preflight of %s from %s: %d %v, want 403 without CORS headers", c.method, c.origin, rec.Code, rec.Header())
		}
	}
	// An OPTIONS that is no preflight is an ordinary request.
	if rec := send(s, "OPTIONS", "127.0.0.1:8080", "/api/runs", "", "Origin", "https://share.example"); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("OPTIONS without Access-Control-Request-Method: %d", rec.Code)
	}
}

func TestAccessConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{AllowedOrigins: []string{"share.example"}},
		{AllowedOrigins: []string{"https://share.example/app"}},
		{AllowedOrigins: []string{"ftp://share.example"}},
		{AllowedOrigins: []string{"null"}},
		{AllowedOrigins: []string{"*"}},
		{AllowedHosts: []string{"https://mybox.lan"}},
		{AllowedHosts: []string{"mybox.lan:8080"}},
		{AllowedHosts: []string{"[::1]:8080"}},
		{AllowedHosts: []string{""}},
		{Addr: "8080"},
	} {
		cfg.DataDir = t.TempDir()
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v): no error", cfg)
		} else if !strings.HasPrefix(err.Error(), "playground: allowed ") && !strings.HasPrefix(err.Error(), "playground: address ") {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// A JSON endpoint takes application/json only: text/plain and the form
// encodings, which a foreign page may send without a preflight, get 415.
func TestAccessContentType(t *testing.T) {
	s := newAccessServer(t, Config{})
	for _, path := range []string{"/api/runs", "/api/shares", "/api/build", "/api/build/js", "/api/format", "/api/try"} {
		for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "application/json; charset"} {
			rec := send(s, "POST", "127.0.0.1:8080", path, helloJSON, "Content-Type", ct)
			if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(errorOf(rec), "this endpoint takes application/json") {
				t.Errorf("POST %s as %q: %d %q, want 415", path, ct, rec.Code, errorOf(rec))
			}
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		if rec := send(s, "POST", "127.0.0.1:8080", "/api/shares", helloJSON, "Content-Type", ct); rec.Code != http.StatusOK {
			t.Errorf("POST /api/shares as %q: %d %s", ct, rec.Code, rec.Body)
		}
	}
}
