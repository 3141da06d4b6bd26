package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// startServeArgs starts "mpmlab serve --addr 127.0.0.1:0 --data DIR args..."
// (a later --addr in args wins) and waits until it prints its URL, which
// is then rewritten to 127.0.0.1 when it names every address (0.0.0.0, ::).
func startServeArgs(t *testing.T, args ...string) *served {
	t.Helper()
	dir := t.TempDir()
	s := &served{startProcess(t, playgroundRE, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, args...)...), dir}
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
		s.URL = u.String()
	}
	return s
}

// port returns the port s listens on.
func (s *served) port(t *testing.T) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// rawAnswer is what a rawCall got.
type rawAnswer struct {
	Status int
	Header http.Header
	Error  string // the {"error": ...} of the body
}

// rawCall sends a request with exactly the headers given ("Host" sets the
// Host header) and a body (sent as is).
func (s *served) rawCall(t *testing.T, method, path, body string, header ...string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, s.Logs())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	json.Unmarshal(data, &e)
	return rawAnswer{Status: resp.StatusCode, Header: resp.Header, Error: e.Error}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The real `mpmlab serve` answers its own page and refuses other pages:
// a foreign Host (DNS rebinding) is 403, a state-changing request from
// another origin is 403, a JSON endpoint sent text/plain is 415; an
// --allow-origin page gets CORS answers and preflights.
func TestServeAccess(t *testing.T) {
	t.Parallel()
	s := startServeArgs(t, "--allow-origin", "https://share.example", "--allow-host", "mybox.test,other.test")
	own := s.URL // the page's own origin: http://127.0.0.1:PORT
	share := jsonOf(t, experiment.Experiment{Source: s.example(t, "hello")})
	const js, text = "application/json", "text/plain"
	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		acao                     string
	}{
		{"foreign Host, API", "GET", "/api/examples", "", []string{"Host", "evil.example"}, 403, ""},
		{"foreign Host with the port, page", "GET", "/", "", []string{"Host", "evil.example:" + s.port(t)}, 403, ""},
		{"foreign Host, share", "GET", "/api/shares/AAAAAAAAAAA", "", []string{"Host", "evil.example"}, 403, ""},
		{"foreign Host, own Origin", "POST", "/api/shares", share, []string{"Host", "evil.example", "Origin", "http://evil.example", "Content-Type", js}, 403, ""},
		{"allowed Host", "GET", "/api/examples", "", []string{"Host", "mybox.test:" + s.port(t)}, 200, ""},
		{"allowed Host, second of a list", "GET", "/api/examples", "", []string{"Host", "other.test"}, 200, ""},
		{"localhost", "GET", "/api/examples", "", []string{"Host", "localhost:" + s.port(t)}, 200, ""},
		{"cross-origin share", "POST", "/api/shares", share, []string{"Origin", "https://evil.example", "Content-Type", js}, 403, ""},
		{"cross-origin simple share", "POST", "/api/shares", share, []string{"Origin", "https://evil.example", "Content-Type", text}, 403, ""},
		{"cross-origin text/plain run", "POST", "/api/runs", share, []string{"Origin", "https://evil.example", "Content-Type", text}, 403, ""},
		{"cross-origin try", "POST", "/api/try", `{}`, []string{"Origin", "https://evil.example", "Content-Type", js}, 403, ""},
		{"text/plain run", "POST", "/api/runs", share, []string{"Origin", own, "Content-Type", text}, 415, ""},
		{"text/plain run, no Origin", "POST", "/api/runs", share, []string{"Content-Type", text}, 415, ""},
		{"same-origin share", "POST", "/api/shares", share, []string{"Origin", own, "Content-Type", js, "X-Mpmlab-Tab", "t1"}, 200, ""},
		{"same-origin examples", "GET", "/api/examples", "", []string{"Origin", own}, 200, ""},
		{"cross-origin read", "GET", "/api/examples", "", []string{"Origin", "https://evil.example"}, 200, ""},
		{"allowed origin share", "POST", "/api/shares", share, []string{"Origin", "https://share.example", "Content-Type", js}, 200, "https://share.example"},
		{"allowed origin read", "GET", "/api/examples", "", []string{"Origin", "https://share.example"}, 200, "https://share.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := s.rawCall(t, c.method, c.path, c.body, c.header...)
			if a.Status != c.status || a.Header.Get("Access-Control-Allow-Origin") != c.acao {
				t.Fatalf("%s %s %v: %d %q (Access-Control-Allow-Origin %q), want %d (%q)", c.method, c.path, c.header, a.Status, a.Error, a.Header.Get("Access-Control-Allow-Origin"), c.status, c.acao)
			}
			if c.status == 403 && !strings.Contains(a.Error, "--allow-") {
				t.Errorf("403 %q does not say which flag allows it", a.Error)
			}
		})
	}
	// The page itself (200 once make has built the front end, else 503).
	if a := s.rawCall(t, "GET", "/", ""); a.Status != 200 && a.Status != 503 {
		t.Errorf("GET /: %d", a.Status)
	}
	// Preflights: an --allow-origin page calling this (private) host.
	pre := s.rawCall(t, "OPTIONS", "/api/runs", "", "Origin", "https://share.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type,x-mpmlab-tab", "Access-Control-Request-Private-Network", "true")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://share.example" ||
		pre.Header.Get("Access-Control-Allow-Private-Network") != "true" || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from the allowed origin: %d %v", pre.Status, pre.Header)
	}
	if pre := s.rawCall(t, "OPTIONS", "/api/runs", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); pre.Status != 403 || pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", pre.Status, pre.Header)
	}
	if !s.Alive() {
		t.Fatalf("mpmlab serve exited:\n%s", s.Logs())
	}
}

// serveOnce runs "mpmlab serve args..." that is expected to exit at once.
func serveOnce(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"serve", "--data", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), "MPMLAB_CACHE="+cacheDir)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mpmlab serve %v did not exit: it served\n%s%s", args, o.String(), e.String())
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// Listening beyond loopback is refused without --public, with one line
// naming the flag; with it, serve warns, answers the machine's addresses
// (any IP literal as Host) but still no foreign name or origin, and limits
// each client address to one running experiment.
func TestServePublic(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		stdout, stderr, code := serveOnce(t, "--addr", addr)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "beyond loopback") || !strings.Contains(stderr, "add --public") {
			t.Errorf("serve --addr %s without --public: exit %d, stdout %q, stderr %q; want exit 2 and one line naming --public", addr, code, stdout, stderr)
		}
	}
	if _, stderr, code := serveOnce(t, "--allow-origin", "share.example"); code != 2 || !strings.Contains(stderr, `allowed origin "share.example": want scheme://host[:port]`) {
		t.Errorf("serve --allow-origin share.example: exit %d, %q", code, stderr)
	}

	s := startServeArgs(t, "--addr", "0.0.0.0:0", "--public")
	waitFor(t, 10*time.Second, "the warning", func() bool {
		return strings.Contains(s.Logs(), "warning: --public: listening on ") && strings.Contains(s.Logs(), "anyone who can reach this port can run code in the sandbox and load this machine")
	})
	if a := s.rawCall(t, "GET", "/api/examples", "", "Host", "192.0.2.7:"+s.port(t)); a.Status != 200 {
		t.Errorf("Host 192.0.2.7 (an address of the machine, as far as serve knows): %d %q", a.Status, a.Error)
	}
	if a := s.rawCall(t, "GET", "/api/examples", "", "Host", "evil.example:"+s.port(t)); a.Status != 403 {
		t.Errorf("Host evil.example: %d", a.Status)
	}
	hello := experiment.Experiment{Source: s.example(t, "hello")}
	if a := s.rawCall(t, "POST", "/api/shares", jsonOf(t, hello), "Origin", "https://evil.example", "Content-Type", "application/json"); a.Status != 403 {
		t.Errorf("cross-origin share: %d", a.Status)
	}
	id := s.startRunAPI(t, hello, "tab-a")
	a := s.rawCall(t, "POST", "/api/runs", jsonOf(t, hello), "Content-Type", "application/json", "X-Mpmlab-Tab", "tab-b")
	if a.Status != 429 || !strings.Contains(a.Error, "this client address (127.0.0.1) already has a running experiment") {
		t.Errorf("a second run from the same address (another tab): %d %q", a.Status, a.Error)
	}
	s.wantStatus(t, 204, "POST", "/api/runs/"+id+"/stop", nil)
	s.openEvents(t, id).until(t, time.Minute, "done")
	waitFor(t, 10*time.Second, "no children after the run", func() bool { return len(s.Children()) == 0 })
}
