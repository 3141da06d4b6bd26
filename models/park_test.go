//go:build linux

package models

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// parkingServer serves a reactor worker's gate with net/http over real
// loopback TCP, as the worker does, with a handler that answers "ok" and
// the connection's request count. keepAlive is the keep-alive timeout (0:
// none).
func parkingServer(t *testing.T, keepAlive time.Duration) (*worker, *parkingGate, *fakeListener) {
	t.Helper()
	w, g, ln, loop := policyWorker(t, reactorPolicy{row(Reactor)}, Config{Connections: 100})
	pg, ok := g.(*parkingGate)
	if !ok {
		t.Fatalf("the reactor's gate is a %T, not a parkingGate", g)
	}
	pg.p.keepAlive = keepAlive
	loop.mu.Lock()
	loop.inPoll = true // an idle loop: it accepts at once
	loop.mu.Unlock()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			cs := r.Context().Value(connKey{}).(*connState)
			cs.requests++
			answer := "ok " + r.URL.Path + " " + strings.Repeat("+", cs.requests)
			if r.Method == http.MethodPost {
				b, err := io.ReadAll(r.Body) // small reads: bufio fills its buffer
				answer += fmt.Sprintf(" %d %v", len(b), err)
			}
			io.WriteString(rw, answer)
		}),
		ConnContext: connContext,
		ConnState:   w.connState,
	}
	go srv.Serve(g)
	t.Cleanup(func() { srv.Close() })
	return w, pg, ln
}

// getOn sends a GET for path on c and reads its answer's body.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return readBody(t, br)
}

func readBody(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitParked waits until the parker holds n connections.
func waitParked(t *testing.T, p *parker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.conns)
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The reactor parks an idle keep-alive connection in its epoll set, as
// nginx does, with no goroutine for it; the client's next request wakes
// it and is served on the same connection, which keeps its state; the
// worker's books count it idle meanwhile.
func TestReactorParksIdleConnections(t *testing.T) {
	w, g, ln := parkingServer(t, 0)
	const n = 20
	var clients []net.Conn
	var readers []*bufio.Reader
	for range n {
		c := ln.dialTCP(t)
		clients, readers = append(clients, c), append(readers, bufio.NewReader(c))
	}
	for i, c := range clients {
		if got := getOn(t, c, readers[i], "/a"); got != "ok /a +" {
			t.Fatalf("first answer %q", got)
		}
	}
	waitParked(t, g.p, n)
	w.connMu.Lock()
	idle, busy := len(w.idleConns), len(w.busyConns)
	w.connMu.Unlock()
	if idle != n || busy != 0 {
		t.Errorf("with %d parked: %d idle and %d busy in the worker's books, want %d and 0", n, idle, busy, n)
	}
	for round := 2; round <= 3; round++ {
		for i, c := range clients {
			want := "ok /b " + strings.Repeat("+", round)
			if got := getOn(t, c, readers[i], "/b"); got != want {
				t.Fatalf("round %d: answer %q, want %q (the same connection's state)", round, got, want)
			}
		}
		waitParked(t, g.p, n)
	}
	// A client hangs up while parked: the connection is closed and gives
	// its place back.
	clients[0].Close()
	waitParked(t, g.p, n-1)
	lg := g.gate.(*loopGate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		lg.mu.Lock()
		open := lg.open
		lg.mu.Unlock()
		if open == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after a parked client hung up, want %d", open, n-1)
		}
		time.Sleep(time.Millisecond)
	}
	// Closing the gate (a graceful stop, a crash) closes the parked ones.
	g.Close()
	for i, c := range clients[1:] {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := readers[i+1].ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("a parked connection after the gate closed: %v, want EOF", err)
		}
	}
}

// A request split around the park loses nothing: bytes net/http has
// buffered are read before any park, and pipelined requests are answered
// in order.
func TestParkedConnectionLosesNoBytes(t *testing.T) {
	_, g, ln := parkingServer(t, 0)
	c := ln.dialTCP(t)
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Two pipelined requests and the start of a third.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGE")
	for _, want := range []string{"ok /1 +", "ok /2 ++"} {
		if got := readBody(t, br); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
	// net/http holds "GE" in its buffer: the connection must not park
	// with it (it would lose it), however long the client waits.
	time.Sleep(3 * parkAfter)
	g.p.mu.Lock()
	parked := len(g.p.conns)
	g.p.mu.Unlock()
	if parked != 0 {
		t.Fatal("a connection parked with the start of a request in its buffer")
	}
	io.WriteString(c, "T /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readBody(t, br); got != "ok /3 +++" {
		t.Fatalf("the split request's answer %q", got)
	}
	waitParked(t, g.p, 1)
	if got := getOn(t, c, br, "/4"); got != "ok /4 ++++" {
		t.Fatalf("after the park: %q", got)
	}
}

// A parked connection is closed at the keep-alive timeout, as net/http
// would close it, and gives its place back.
func TestParkedConnectionTimesOut(t *testing.T) {
	w, g, ln := parkingServer(t, 100*time.Millisecond)
	c := ln.dialTCP(t)
	br := bufio.NewReader(c)
	if got := getOn(t, c, br, "/"); got != "ok / +" {
		t.Fatalf("answer %q", got)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("an idle parked connection: %v, want EOF at the keep-alive timeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("closed after %v, before the 100ms keep-alive timeout", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.connMu.Lock()
		idle := len(w.idleConns)
		w.connMu.Unlock()
		lg := g.gate.(*loopGate)
		lg.mu.Lock()
		open := lg.open
		lg.mu.Unlock()
		if idle == 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the timeout: %d idle in the books, %d open in the gate; want 0 and 0", idle, open)
		}
		time.Sleep(time.Millisecond)
	}
}

// A client that starts its next request at once and finishes it later
// (longer than parkAfter) is answered: the wait for the rest of the
// request is net/http's, with its own deadline, not the parking read's.
func TestParkingReadKeepsSlowRequest(t *testing.T) {
	_, _, ln := parkingServer(t, time.Minute)
	c := ln.dialTCP(t)
	br := bufio.NewReader(c)
	if got := getOn(t, c, br, "/1"); got != "ok /1 +" {
		t.Fatalf("answer %q", got)
	}
	io.WriteString(c, "GE")
	time.Sleep(5 * parkAfter) // the client's pause mid-request
	io.WriteString(c, "T /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readBody(t, br); got != "ok /2 ++" {
		t.Fatalf("the slow request's answer %q", got)
	}
}

// A request's body read never parks, however long its client pauses: here
// the next request's head arrived with the last request, so net/http's wait
// for it read nothing, and the body's first read is the first read since the
// connection was idle.
func TestParkingSparesBodyReads(t *testing.T) {
	_, g, ln := parkingServer(t, time.Minute)
	c := ln.dialTCP(t)
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
	if got := readBody(t, br); got != "ok /a +" {
		t.Fatalf("answer %q", got)
	}
	time.Sleep(5 * parkAfter) // the client's pause before the body
	g.p.mu.Lock()
	parked := len(g.p.conns)
	g.p.mu.Unlock()
	if parked != 0 {
		t.Fatal("a connection parked while its request's body was due")
	}
	io.WriteString(c, strings.Repeat("x", 5000))
	if got := readBody(t, br); got != "ok /b ++ 5000 <nil>" {
		t.Fatalf("the POST's answer %q, want its whole body read", got)
	}
}
