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

func TestAccessConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
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
