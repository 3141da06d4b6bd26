package models

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The conformance suite: one kit of fast tests that every model's Policy
// runs (as http-wasm's tck runs one kit against every host), with fakes
// where the real thing is not the point — a listener of in-memory
// connections, lanes without guests, a loop clock. What each model must
// do differs; the suite states each law once, with each model's expected
// answer beside it. The real-binary tests in cmd/mpmlab keep the
// end-to-end laws (timings of real worker processes).

// fakeListener hands out one end of a net.Pipe per Accept, as many as
// dial asks for; the other ends are the clients. Like a listening socket,
// it also tells whether a connection is pending without taking it (the
// event gate's backlog).
type fakeListener struct {
	mu      sync.Mutex
	pending []net.Conn
	arrived chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{arrived: make(chan struct{}, 1), closed: make(chan struct{})}
}

// dial queues a connection for Accept, as a client in the backlog.
func (l *fakeListener) dial() net.Conn {
	server, client := net.Pipe()
	l.queue(server)
	return client
}

// queue puts the server's end of a connection in the backlog.
func (l *fakeListener) queue(server net.Conn) {
	l.mu.Lock()
	l.pending = append(l.pending, server)
	l.mu.Unlock()
	select {
	case l.arrived <- struct{}{}:
	default:
	}
}

// dialTCP queues a connection for Accept as dial does, but over loopback
// TCP, whose ends can half-close (event's lingering close).
func (l *fakeListener) dialTCP(t *testing.T) net.Conn {
	t.Helper()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	client, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	l.queue(server)
	return client
}

func (l *fakeListener) Accept() (net.Conn, error) {
	for {
		if c, err := l.tryAccept(); err != errNotPending {
			return c, err
		}
		if err := l.waitPending(); err != nil {
			return nil, err
		}
	}
}

func (l *fakeListener) waitPending() error {
	for {
		l.mu.Lock()
		n := len(l.pending)
		l.mu.Unlock()
		if n > 0 {
			return nil
		}
		select {
		case <-l.arrived:
		case <-l.closed:
			return net.ErrClosed
		}
	}
}

func (l *fakeListener) tryAccept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return nil, errNotPending
	}
	c := l.pending[0]
	l.pending = l.pending[1:]
	return c, nil
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// fakeLoop is a loop that has made passes passes and read readBytes
// request bytes.
type fakeLoop struct {
	mu        sync.Mutex
	passes    uint64
	inPoll    bool
	readBytes uint64
	sig       chan struct{}
}

// newFakeLoop is a loop busy running guest code, that has turned once
// (the guest's start).
func newFakeLoop() *fakeLoop { return &fakeLoop{passes: 1, sig: make(chan struct{}, 1)} }

func (f *fakeLoop) Passes() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.passes }
func (f *fakeLoop) InPoll() bool   { f.mu.Lock(); defer f.mu.Unlock(); return f.inPoll }
func (f *fakeLoop) PassSignal() <-chan struct{} {
	return f.sig
}
func (f *fakeLoop) ReadBytes() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.readBytes }

// read makes the guest read a request it was handed.
func (f *fakeLoop) read() {
	f.mu.Lock()
	f.readBytes += 100
	f.mu.Unlock()
}

// pass makes the loop turn once.
func (f *fakeLoop) pass() {
	f.mu.Lock()
	f.passes++
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default:
	}
}

// policyWorker is a worker process of policy p under cfg with lanes that run
// no guest, each with a loop of its own (the first one returned), its gate
// over a fake listener.
func policyWorker(t *testing.T, p Policy, cfg Config) (*worker, gate, *fakeListener, *fakeLoop) {
	t.Helper()
	cfg = cfg.WithDefaults()
	cfg.Model = p.Model()
	w := &worker{policy: p, inflight: map[uint64]*inflight{}, busyConns: map[net.Conn]bool{}, idleConns: map[net.Conn]bool{},
		spec: workerSpec{Model: p.Model(), Lanes: p.Lanes(&cfg), serving: serving{
			Connections: cfg.Connections, AsyncRequestWorkerFactor: cfg.AsyncRequestWorkerFactor, KeepAlive: true,
		}}}
	w.board = privateRow(p.Lanes(&cfg))
	for i := range p.Lanes(&cfg) {
		w.lanes = append(w.lanes, &lane{index: i, loop: newFakeLoop(), state: &w.board.lanes[i]})
	}
	loop := w.lanes[0].loop.(*fakeLoop)
	ln := newFakeListener()
	g := p.gate(w, ln)
	w.gate = g
	t.Cleanup(func() { g.Close() })
	return w, g, ln, loop
}

// accepted runs Accept on g in the background and delivers what it took.
func accepted(g gate) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := g.Accept()
		if err == nil {
			ch <- c
		}
		close(ch)
	}()
	return ch
}

// takes reports whether an Accept pending on ch returns a connection
// within a short wait (the fakes answer at once when they may).
func takes(ch <-chan net.Conn) (net.Conn, bool) {
	select {
	case c, ok := <-ch:
		return c, ok
	case <-time.After(200 * time.Millisecond):
		return nil, false
	}
}

func each(t *testing.T, f func(t *testing.T, p Policy)) {
	for _, p := range Policies {
		t.Run(string(p.Model()), func(t *testing.T) { f(t, p) })
	}
}

// Pool sizing: the processes to start, the scoreboard slots and the lanes
// per process follow each model's directives.
func TestPolicyPool(t *testing.T) {
	cfg := Config{StartServers: 3, MaxRequestWorkers: 7, Processes: 2, ThreadsPerChild: 5, Loops: 4}.WithDefaults()
	want := map[Model][3]int{ // start, slots, lanes
		Process:  {3, 7, 1},
		Thread:   {2, 2, 5},
		Reactor:  {4, 4, 1},
		EventMPM: {2, 2, 5},
	}
	each(t, func(t *testing.T, p Policy) {
		if got := [3]int{p.Start(&cfg), p.Slots(&cfg), p.Lanes(&cfg)}; got != want[p.Model()] {
			t.Errorf("start, slots, lanes = %v, want %v", got, want[p.Model()])
		}
		if p.Threads() != (p.Lanes(&cfg) == 5) {
			t.Errorf("Threads() = %v with %d lanes", p.Threads(), p.Lanes(&cfg))
		}
	})
}

// The spare-server rule: only prefork changes its pool, spawning 1, 2, 4 …
// while short of MinSpareServers, never past MaxRequestWorkers, and
// retiring one above MaxSpareServers.
func TestPolicySpares(t *testing.T) {
	cfg := Config{StartServers: 2, MinSpare: 2, MaxSpare: 4, MaxRequestWorkers: 10}.WithDefaults()
	each(t, func(t *testing.T, p Policy) {
		cases := []struct{ alive, idle, rate, want int }{
			{2, 0, 1, 1},  // short of spares: spawn at the rate
			{3, 1, 4, 4},  // the rate doubled meanwhile
			{9, 0, 8, 1},  // never past MaxRequestWorkers
			{10, 0, 8, 0}, // at MaxRequestWorkers
			{6, 3, 1, 0},  // between the two
			{8, 5, 1, -1}, // too many idle: retire one
		}
		for _, c := range cases {
			got := p.Spares(&cfg, c.alive, c.idle, c.rate)
			want := c.want
			if p.Model() != Process {
				want = 0 // a fixed pool
			}
			if got != want {
				t.Errorf("Spares(alive %d, idle %d, rate %d) = %d, want %d", c.alive, c.idle, c.rate, got, want)
			}
		}
	})
}

// Names: a lane is named as guest.Worker names it.
func TestPolicyLabels(t *testing.T) {
	want := map[Model]string{Process: "process 3", Thread: "thread 3.1", Reactor: "loop 3", EventMPM: "thread 3.1"}
	each(t, func(t *testing.T, p Policy) {
		if got := p.LaneLabel(3, 1); got != want[p.Model()] {
			t.Errorf("LaneLabel(3, 1) = %q, want %q", got, want[p.Model()])
		}
	})
}

// Accept gating: how many connections a process takes before the next one
// waits in the backlog. Process: one per process. Thread: one per thread.
// Reactor: one per pass of its loop (and none while the loop is held),
// worker_connections at most. Event: one per idle thread, as Apache's
// listener hands a new connection to a thread it reserves (get_worker),
// which reads and serves its first request; the limit of ThreadsPerChild
// + AsyncRequestWorkerFactor × idle threads counts the connections kept
// alive after it (TestEventCountsKeptAliveConnections).
func TestPolicyAcceptGating(t *testing.T) {
	cfg := Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 3, Connections: 100}
	want := map[Model]int{Process: 1, Thread: 2, Reactor: 1, EventMPM: 2}
	each(t, func(t *testing.T, p Policy) {
		_, g, ln, _ := policyWorker(t, p, cfg)
		var clients []net.Conn
		for range 12 {
			clients = append(clients, ln.dial())
		}
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		n := 0
		for {
			if _, ok := takes(accepted(g)); !ok {
				break
			}
			n++
		}
		if n != want[p.Model()] {
			t.Errorf("took %d connections before waiting, want %d", n, want[p.Model()])
		}
	})
}

// A loop accepts again once it turns: one connection per pass.
func TestReactorAcceptsOnePerPass(t *testing.T) {
	_, g, ln, loop := policyWorker(t, reactorPolicy{row(Reactor)}, Config{})
	for range 3 {
		defer ln.dial().Close()
	}
	if _, ok := takes(accepted(g)); !ok {
		t.Fatal("the first connection was not taken")
	}
	next := accepted(g)
	if _, ok := takes(next); ok {
		t.Fatal("a second connection was taken without a pass of the loop")
	}
	loop.pass()
	if _, ok := takes(next); !ok {
		t.Error("no connection taken after the loop turned")
	}
}

// Keep-alive pinning: when a connection is idle between requests, does it
// still hold its lane? Process and thread: yes — the next connection waits
// for it to close. Event: no — its thread is free for another connection's
// request. (A loop has one lane for all.)
func TestPolicyKeepAlivePinning(t *testing.T) {
	each(t, func(t *testing.T, p Policy) {
		if p.Loop() {
			return
		}
		cfg := Config{ThreadsPerChild: 1, AsyncRequestWorkerFactor: 1}
		w, g, ln, _ := policyWorker(t, p, cfg)
		defer ln.dial().Close()
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatal("no connection taken")
		}
		cs := c.(*gatedConn).cs
		// One request on it, then it goes idle (keep-alive).
		l, done, err := g.serve(cs)
		if err != nil || l == nil {
			t.Fatalf("no lane for the request: %v", err)
		}
		done()
		w.connState(c, httpStateIdle)
		pinned := g.pinsLanes()
		if want := p.Model() != EventMPM; pinned != want {
			t.Errorf("pinsLanes() = %v, want %v", pinned, want)
		}
		// The model table's PinsLane (experiment.ModelTable, which the
		// playground asks about keep-alive pinning) says what the gate
		// does: an idle connection holds a lane that serves one
		// connection at a time.
		if want := pinned && !p.Loop(); p.PinsLane() != want {
			t.Errorf("PinsLane() = %v, but the gate pins lanes: %v, loop: %v", p.PinsLane(), pinned, p.Loop())
		}
		// Another connection's request: it gets a lane only if the idle
		// connection does not hold it.
		if pinned {
			if got := w.board.state(0); got != laneKeepAlive {
				t.Errorf("the pinned lane's state is %v, want keepalive", got)
			}
			return
		}
		l2, done2, err := g.serve(&connState{id: 2})
		if err != nil || l2 != w.lanes[0] {
			t.Fatalf("the idle connection kept its thread: got %v, %v", l2, err)
		}
		done2()
	})
}

// eventServe serves the first request of every connection in conns, each
// on the thread reserved for it at accept, and leaves the connections
// kept alive, idle, with their threads back.
func eventServe(t *testing.T, w *worker, g gate, conns ...net.Conn) {
	t.Helper()
	for _, c := range conns {
		l, done, err := g.serve(c.(*gatedConn).cs)
		if err != nil || l == nil {
			t.Fatalf("no thread for a first request: %v", err)
		}
		done()
		w.connState(c, httpStateIdle)
	}
}

// open reports whether the server's end of a net.Pipe is still open.
func open(client net.Conn) bool {
	client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := client.Read(make([]byte, 1))
	return !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe)
}

// Event's limit counts kept-alive connections: a process with idle threads
// takes connections until it holds ThreadsPerChild +
// AsyncRequestWorkerFactor × idle threads, then stops accepting and closes
// nothing (connections_above_limit). It accepts again only under the
// limit counted with one idle thread fewer (should_enable_listensocks).
func TestEventCountsKeptAliveConnections(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1})
	var clients []net.Conn
	for range 5 {
		clients = append(clients, ln.dial())
	}
	var conns []net.Conn
	for range 4 { // up to 2 + 1 × 2, each served before the next comes
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatalf("connection %d, under the limit, was not taken", len(conns)+1)
		}
		conns = append(conns, c)
		eventServe(t, w, g, c)
	}
	next := accepted(g)
	if _, ok := takes(next); ok {
		t.Fatal("a fifth connection was taken at the limit (2 + 1 × 2 idle threads)")
	}
	for i, c := range clients[:4] {
		if !open(c) {
			t.Errorf("kept-alive connection %d was closed with threads idle", i)
		}
	}
	// One closes: 3 open, under 2 + 1 × 2 but not under 2 + 1 × (2 - 1).
	conns[0].Close()
	if _, ok := takes(next); ok {
		t.Fatal("accepting again at 3 connections: should_enable_listensocks counts one idle thread fewer")
	}
	conns[1].Close()
	if _, ok := takes(next); !ok {
		t.Error("no connection taken at 2 connections with both threads idle")
	}
}

// Event counts a new connection against its limit once its thread has
// taken it up — Apache's worker, not its listener, counts it (in
// process_socket) when it wakes to it; here, once the guest has read the
// first request — not when it is accepted or its request handed over. With
// two connections kept alive and a third whose request went to its thread,
// the limit is 2 + 1 × 1 idle thread: a fourth is taken only if the third's
// thread has not read yet.
func TestEventCountsConnectionsTakenUp(t *testing.T) {
	for _, read := range []bool{false, true} {
		t.Run(map[bool]string{false: "handed", true: "read"}[read], func(t *testing.T) {
			w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1})
			for range 4 {
				defer ln.dial().Close()
			}
			for range 2 {
				c, ok := takes(accepted(g))
				if !ok {
					t.Fatal("a connection under the limit was not taken")
				}
				eventServe(t, w, g, c)
			}
			c, ok := takes(accepted(g))
			if !ok {
				t.Fatal("the third connection was not taken")
			}
			l, done, err := g.serve(c.(*gatedConn).cs)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			if read {
				l.loop.(*fakeLoop).read()
			}
			if _, took := takes(accepted(g)); took == read {
				t.Errorf("fourth connection taken: %v, want %v", took, !read)
			}
		})
	}
}

// Event with every thread busy, when a connection is pending: the listener
// stops accepting and closes every idle keep-alive connection of its
// process (process_keepalive_queue(0)), so that their clients go to a
// process with room; it accepts again once a thread is idle and the
// process is under its limit. With none pending it closes nothing. A
// connection counts against the limit once its thread has taken it up
// (Apache's worker counts it, in process_socket): the fourth connection
// here is taken while the third's request has not started, at 2 + 1 × 1
// counted as 2, so a burst runs out of threads before it reaches the limit.
func TestEventClosesIdleConnectionsWhenBusy(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1})
	var clients []net.Conn
	for range 4 {
		clients = append(clients, ln.dial())
	}
	var conns []net.Conn
	for range 4 { // the first two kept alive, idle; the next two hold both threads
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatalf("connection %d, under the limit, was not taken", len(conns)+1)
		}
		conns = append(conns, c)
		if len(conns) <= 2 {
			eventServe(t, w, g, c)
		}
	}
	next := accepted(g) // none pending: nothing to decide, nothing closed
	if _, ok := takes(next); ok {
		t.Fatal("a connection was taken with none pending")
	}
	for i, c := range clients[:2] {
		if !open(c) {
			t.Errorf("idle keep-alive connection %d was closed with none pending", i)
		}
	}
	defer ln.dial().Close() // a fifth, pending, with every thread busy
	if _, ok := takes(next); ok {
		t.Fatal("a connection was taken while every thread was busy")
	}
	for i, c := range clients[:2] {
		if open(c) {
			t.Errorf("idle keep-alive connection %d is still open with every thread busy", i)
		}
	}
	_, done, _ := g.serve(conns[2].(*gatedConn).cs)
	done()
	if _, ok := takes(next); !ok {
		t.Error("no connection taken once a thread was idle under the limit")
	}
}

// Event: a request on a kept-alive connection takes an idle thread or,
// with none idle, its connection is closed unanswered (the client retries
// on a new connection, through the backlog), and so is every idle
// keep-alive connection of the process; the request does not wait for a
// thread. Apache's listener: get_worker without blocking, then
// shutdown_connection, and process_keepalive_queue(0).
func TestEventKeptAliveRequestWithoutThread(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 1, AsyncRequestWorkerFactor: 2})
	var clients, conns []net.Conn
	for range 3 { // one at a time: the limit is 1 + 2 × 1
		clients = append(clients, ln.dial())
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatal("a connection under the limit was not taken")
		}
		conns = append(conns, c)
		if len(conns) < 3 {
			eventServe(t, w, g, c)
		}
	}
	_, doneC, err := g.serve(conns[2].(*gatedConn).cs) // the one thread is busy
	if err != nil {
		t.Fatal(err)
	}
	type served struct {
		l   *lane
		err error
	}
	got := make(chan served, 1)
	go func() {
		w.connState(conns[1], http.StateActive) // its next request
		l, done, err := g.serve(conns[1].(*gatedConn).cs)
		if err == nil {
			done()
		}
		got <- served{l, err}
	}()
	select {
	case s := <-got:
		if !errors.Is(s.err, errNoThread) {
			t.Errorf("a kept-alive request with no thread idle got %v, %v; want errNoThread", s.l, s.err)
		}
	case <-time.After(time.Second):
		t.Fatal("a kept-alive request waited for a thread")
	}
	if open(clients[0]) {
		t.Error("an idle keep-alive connection is still open after a request found no thread")
	}
	doneC()
	if l, done, err := g.serve(&connState{id: 9}); err != nil || l != w.lanes[0] {
		t.Errorf("no thread once it was idle again: %v, %v", l, err)
	} else {
		done()
	}
}

// Event shuts down the connections it gives up on as Apache does
// (shutdown_connection, process_lingering_close): a killed keep-alive
// connection stops counting at once, its FIN goes out on a thread — at
// once if one is idle, else on the next done with its request
// (defer_linger_chain) — and when the client's FIN comes back the listener
// wants an idle thread to finish the close; finding none, its workers are
// busy, and it closes every idle keep-alive connection again.
func TestEventLingeringCloseNeedsThread(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 1, AsyncRequestWorkerFactor: 2})
	eg := g.(*eventGate)
	var clients, conns []net.Conn
	for range 2 { // kept alive, idle: A and B
		clients = append(clients, ln.dialTCP(t))
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatal("a connection under the limit was not taken")
		}
		conns = append(conns, c)
		eventServe(t, w, g, c)
	}
	// B's next request holds the one thread; C's finds none: A is killed.
	w.connState(conns[1], http.StateActive)
	_, doneB, err := g.serve(conns[1].(*gatedConn).cs)
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients, ln.dialTCP(t))
	if _, ok := takes(accepted(g)); ok {
		t.Fatal("a connection was taken with the one thread busy")
	}
	eg.mu.Lock()
	open, chained := eg.open, len(eg.chain)
	eg.mu.Unlock()
	if open != 1 || chained != 1 {
		t.Fatalf("after the kill: %d connections counted, %d waiting to linger; want 1 (B) and 1 (A)", open, chained)
	}
	gotFIN := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	}
	if gotFIN(clients[0]) {
		t.Fatal("A's FIN went out with no thread to send it")
	}
	doneB() // the thread, done with B's request, sends A's FIN
	w.connState(conns[1], httpStateIdle)
	if !gotFIN(clients[0]) {
		t.Fatal("A got no FIN once a thread was done with its request")
	}
	// The thread busy again, B kept alive and idle, A's client closes: the
	// close finds no idle thread, and B is killed (into the chain: its FIN
	// waits for the thread).
	_, doneX, err := g.serve(&connState{id: 9})
	if err != nil {
		t.Fatal(err)
	}
	clients[0].Close()
	io.Copy(io.Discard, tcpOf(conns[0])) // net/http's read of A sees the client's FIN...
	conns[0].Close()                     // ...and closes it: the listener wants a thread
	w.connMu.Lock()
	idle := len(w.idleConns)
	w.connMu.Unlock()
	eg.mu.Lock()
	open, chained = eg.open, len(eg.chain)
	eg.mu.Unlock()
	if idle != 0 || open != 0 || chained != 1 {
		t.Fatalf("A's close with no idle thread left %d idle keep-alive connections, %d counted, %d waiting to linger; want 0, 0, 1 (B)", idle, open, chained)
	}
	doneX()
	if !gotFIN(clients[1]) {
		t.Error("B got no FIN once the thread was done")
	}
}

// Event counts a connection once, however it ends: one that closed (its
// client hung up, or its keep-alive timed out) is still in the worker's
// books of idle connections until net/http reports it closed, and a kill
// in that moment must not count it out a second time. A count that drifts
// below the connections held raises the process's limit for the rest of
// its life: the model served nearly all of 100 thinking clients after a
// few minutes of loads, where Apache's listeners hold them back.
func TestEventClosedConnectionCountsOutOnce(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{row(EventMPM)}, Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1})
	eg := g.(*eventGate)
	var conns []net.Conn
	for range 2 { // A and B, kept alive and idle
		ln.dialTCP(t)
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatal("a connection under the limit was not taken")
		}
		conns = append(conns, c)
		eventServe(t, w, g, c)
	}
	conns[0].Close() // A's client hung up; net/http has not said StateClosed yet
	eg.kill()        // a request finds no thread: every idle connection is shut down
	eg.mu.Lock()
	open := eg.open
	eg.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d connections counted after A closed and B was shut down; want 0", open)
	}
	// So the limit is what it was: 2 + 1 × 2 idle threads.
	for i := range 5 {
		ln.dial()
		c, ok := takes(accepted(g))
		if ok != (i < 4) {
			t.Fatalf("connection %d taken: %v; the limit is 4", i+1, ok)
		}
		if ok {
			eventServe(t, w, g, c)
		}
	}
}

// stealingListener is a backlog from which another process takes the
// next pending connection first, once: Accept's tryAccept finds none.
type stealingListener struct {
	*fakeListener
	steal bool
}

func (l *stealingListener) tryAccept() (net.Conn, error) {
	c, err := l.fakeListener.tryAccept()
	if err == nil && l.steal {
		l.steal = false
		c.Close()
		return nil, errNotPending
	}
	return c, err
}

// Event: when another process accepts the connection a listener reserved
// a thread for, the listener keeps the thread reserved (get_worker:
// "already reserved a worker thread") for its next connection, request or
// close, and it is not idle meanwhile (ap_queue_info_num_idlers), so the
// process's limit is counted with one idle thread fewer; the next request
// takes it, and it goes idle once done.
func TestEventKeepsThreadFromLostRace(t *testing.T) {
	cfg := Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1}.WithDefaults()
	p := eventPolicy{row(EventMPM)}
	cfg.Model = p.Model()
	w := &worker{policy: p, inflight: map[uint64]*inflight{}, busyConns: map[net.Conn]bool{}, idleConns: map[net.Conn]bool{},
		spec: workerSpec{Model: p.Model(), Lanes: 2, serving: serving{AsyncRequestWorkerFactor: 1, KeepAlive: true}}}
	w.board = privateRow(2)
	for i := range 2 {
		w.lanes = append(w.lanes, &lane{index: i, loop: newFakeLoop(), state: &w.board.lanes[i]})
	}
	ln := &stealingListener{fakeListener: newFakeListener(), steal: true}
	g := newEventGate(w, ln)
	w.gate = g
	defer g.Close()
	ln.dial() // taken by "another process"
	next := accepted(g)
	idle := func() (int, bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.idle), g.reserved != nil
	}
	deadline := time.Now().Add(time.Second)
	for n, kept := idle(); !kept; n, kept = idle() {
		if time.Now().After(deadline) {
			t.Fatalf("after a lost race: %d idle threads, none kept reserved", n)
		}
		time.Sleep(time.Millisecond)
	}
	if n, _ := idle(); n != 1 {
		t.Fatalf("after a lost race: %d idle threads, want 1 (the other kept reserved)", n)
	}
	l, done, err := g.serve(&connState{id: 9}) // a kept-alive connection's request
	if err != nil || l == nil {
		t.Fatalf("no thread for a request: %v", err)
	}
	if n, kept := idle(); n != 1 || kept {
		t.Errorf("the request did not take the kept thread: %d idle, kept %v", n, kept)
	}
	done()
	if n, kept := idle(); n != 2 || kept {
		t.Errorf("after the request: %d idle, kept %v; want 2, none kept", n, kept)
	}
	ln.dial()
	if _, ok := takes(next); !ok {
		t.Error("the next connection was not taken")
	}
}

// Crash blast radius: what one crashed process takes down, in the words of
// the summary.
func TestPolicyCrash(t *testing.T) {
	cfg := Config{ThreadsPerChild: 6}.WithDefaults()
	want := map[Model]string{Process: "only its own connection", Thread: "6 threads", Reactor: "every connection of its loop", EventMPM: "6 threads"}
	each(t, func(t *testing.T, p Policy) {
		if got := p.Crash(&cfg); !strings.Contains(got, want[p.Model()]) {
			t.Errorf("Crash() = %q, want it to say %q", got, want[p.Model()])
		}
	})
}

// A dying worker takes no new connection, whatever its model: its exit
// would drop it.
func TestPolicyDyingWorkerAcceptsNothing(t *testing.T) {
	each(t, func(t *testing.T, p Policy) {
		w, g, ln, _ := policyWorker(t, p, Config{})
		defer ln.dial().Close()
		w.mu.Lock()
		w.dying = true
		w.mu.Unlock()
		if _, ok := takes(accepted(g)); ok {
			t.Error("a dying worker took a connection")
		}
	})
}

func TestParseModel(t *testing.T) {
	for _, m := range experiment.ModelNames() {
		if got, err := ParseModel(m); err != nil || string(got) != m {
			t.Errorf("ParseModel(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseModel("prefork"); err == nil || !strings.Contains(err.Error(), "(want "+experiment.ModelList()+")") {
		t.Errorf("ParseModel(prefork): %v", err)
	}
}

const httpStateIdle = http.StateIdle

// The phases header reads back what the worker wrote.
func TestPhasesHeaderRoundTrip(t *testing.T) {
	want := RequestPhases{Wait: 1, Service: 200_000_000, Run: 199_000_000, Hold: 198_000_000, Where: "main.go:22"}
	got, ok := ParsePhases(string(AppendPhases(nil, want)))
	if !ok || got != want {
		t.Fatalf("round trip: %+v %v, want %+v", got, ok, want)
	}
	for _, bad := range []string{"", "wait=1", "wait=x service=1 run=1 hold=1", "wait=-1 service=1 run=1 hold=1", "junk"} {
		if _, ok := ParsePhases(bad); ok {
			t.Errorf("ParsePhases(%q) ok", bad)
		}
	}
}

// A prefork process and a loop lower their collector's goal; a worker
// with threads keeps Go's default (gcPercent).
func TestGCPercentByModel(t *testing.T) {
	for _, c := range []struct {
		m    Model
		want bool
	}{{Process, true}, {Thread, false}, {EventMPM, false}, {Reactor, true}} {
		p, err := PolicyOf(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if pct, ok := gcPercent(p); ok != c.want || (ok && pct != workerGCPercent) {
			t.Errorf("%s: gcPercent = %d, %v; want %v", c.m, pct, ok, c.want)
		}
	}
}
