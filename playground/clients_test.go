package playground

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sendFrom serves one request to s from the client address addr (host:port).
func sendFrom(s *Server, addr, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = "127.0.0.1:8080"
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// A public server gives each client address a bucket of clientBurst costly
// requests, refilled one per clientRefill; reads, a run's stop and other
// clients are not affected.
func TestClientsRate(t *testing.T) {
	s := newAccessServer(t, Config{Addr: "0.0.0.0:8080", Public: true})
	now := time.Unix(1e9, 0)
	s.clients.now = func() time.Time { return now }
	share := func(addr string) *httptest.ResponseRecorder {
		return sendFrom(s, addr, "POST", "/api/shares", helloJSON)
	}
	for i := range clientBurst {
		if rec := share("192.0.2.1:1000"); rec.Code != http.StatusOK {
			t.Fatalf("share %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := share("192.0.2.1:1001") // another port: the same client
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3" || !strings.Contains(errorOf(rec), "too many requests from 192.0.2.1 (the limit is 20 a minute per client") {
		t.Fatalf("share past the burst: %d %q Retry-After %q", rec.Code, errorOf(rec), rec.Header().Get("Retry-After"))
	}
	if rec := sendFrom(s, "192.0.2.1:1000", "GET", "/api/examples", ""); rec.Code != http.StatusOK {
		t.Errorf("a read past the burst: %d", rec.Code)
	}
	if rec := sendFrom(s, "192.0.2.1:1000", "POST", "/api/runs/rnope/stop", ""); rec.Code != http.StatusNotFound {
		t.Errorf("a stop past the burst: %d", rec.Code)
	}
	if rec := share("192.0.2.2:1000"); rec.Code != http.StatusOK {
		t.Errorf("another client: %d %s", rec.Code, rec.Body)
	}
	now = now.Add(clientRefill)
	if rec := share("192.0.2.1:1000"); rec.Code != http.StatusOK {
		t.Errorf("after %v: %d %s", clientRefill, rec.Code, rec.Body)
	}
	if rec := share("192.0.2.1:1000"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a second one after %v: %d", clientRefill, rec.Code)
	}
	// IPv6 clients are keyed by their /64.
	for range clientBurst {
		share("[2001:db8::1]:1000")
	}
	if rec := share("[2001:db8::2]:1000"); rec.Code != http.StatusTooManyRequests || !strings.Contains(errorOf(rec), "2001:db8::/64") {
		t.Errorf("same /64: %d %q", rec.Code, errorOf(rec))
	}
	if rec := share("[2001:db8:0:1::1]:1000"); rec.Code != http.StatusOK {
		t.Errorf("another /64: %d", rec.Code)
	}
	// A server on loopback (not Public) limits no one.
	local := newAccessServer(t, Config{})
	for i := range clientBurst + 5 {
		if rec := sendFrom(local, "127.0.0.1:1000", "POST", "/api/shares", helloJSON); rec.Code != http.StatusOK {
			t.Fatalf("not public, share %d: %d", i, rec.Code)
		}
	}
}

// A client has at most clientInFlight costly requests in flight (here,
// builds waiting for a build slot).
func TestClientsInFlight(t *testing.T) {
	s := newAccessServer(t, Config{Addr: "0.0.0.0:8080", Public: true})
	for range maxBuilds { // hold every slot: a build waits
		<-s.builds
	}
	build := `{"source":` + mustJSON(hello.Source) + `}`
	var wg sync.WaitGroup
	codes := make(chan int, clientInFlight)
	for range clientInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- sendFrom(s, "192.0.2.1:1000", "POST", "/api/build", build).Code
		}()
	}
	inFlight := func() int {
		s.clients.mu.Lock()
		defer s.clients.mu.Unlock()
		if cl := s.clients.m["192.0.2.1"]; cl != nil {
			return cl.inFlight
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight() < clientInFlight {
		if time.Now().After(deadline) {
			t.Fatalf("%d builds in flight, want %d", inFlight(), clientInFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rec := sendFrom(s, "192.0.2.1:1000", "POST", "/api/shares", helloJSON); rec.Code != http.StatusTooManyRequests || !strings.Contains(errorOf(rec), "2 requests of 192.0.2.1 are in flight") {
		t.Errorf("a third request in flight: %d %q", rec.Code, errorOf(rec))
	}
	if rec := sendFrom(s, "192.0.2.2:1000", "POST", "/api/shares", helloJSON); rec.Code != http.StatusOK {
		t.Errorf("another client: %d %s", rec.Code, rec.Body)
	}
	s.Stop() // cancels the waiting builds
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("a cancelled build: %d", c)
		}
	}
	if n := inFlight(); n != 0 {
		t.Errorf("%d requests in flight once answered", n)
	}
	if rec := sendFrom(s, "192.0.2.1:1000", "POST", "/api/shares", helloJSON); rec.Code != http.StatusOK {
		t.Errorf("after the builds: %d %s", rec.Code, rec.Body)
	}
}

// A public server runs one experiment per client address, whatever tab
// header it sends; a loopback one, one per tab.
func TestClientsRuns(t *testing.T) {
	for _, public := range []bool{true, false} {
		s := newAccessServer(t, Config{Public: public})
		for range maxBuilds { // hold every slot: a run stays building
			<-s.builds
		}
		run := func(addr, tab string) *httptest.ResponseRecorder {
			return sendFrom(s, addr, "POST", "/api/runs", helloJSON, tabHeader, tab)
		}
		if rec := run("192.0.2.1:1000", "tab-a"); rec.Code != http.StatusAccepted {
			t.Fatalf("public %v: first run: %d %s", public, rec.Code, rec.Body)
		}
		rec := run("192.0.2.1:1001", "tab-b")
		if public && (rec.Code != http.StatusTooManyRequests || !strings.Contains(errorOf(rec), "this client address (192.0.2.1) already has a running experiment")) {
			t.Errorf("public: a second run from the same address: %d %q", rec.Code, errorOf(rec))
		}
		if !public && rec.Code != http.StatusAccepted {
			t.Errorf("loopback: a second tab's run: %d %q", rec.Code, errorOf(rec))
		}
		if public {
			if rec := run("192.0.2.2:1000", "tab-a"); rec.Code != http.StatusAccepted {
				t.Errorf("public: another address: %d %q", rec.Code, errorOf(rec))
			}
		}
		s.Stop()
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
