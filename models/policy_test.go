package models

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance suite: one kit of fast tests that every model's Policy
// runs (as http-wasm's tck runs one kit against every host), with fakes
// where the real thing is not the point — a listener of in-memory
// connections, lanes without guests, a loop clock. What each model must
// do differs; the suite states each law once, with each model's expected
// answer beside it. The real-binary tests in cmd/mpmlab keep the
// end-to-end laws (timings of real worker processes).

// fakeListener hands out one end of a net.Pipe per Accept, as many as
// dial asks for; the other ends are the clients.
type fakeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn, 64), closed: make(chan struct{})}
}

// dial queues a connection for Accept, as a client in the backlog.
func (l *fakeListener) dial() net.Conn {
	server, client := net.Pipe()
	l.conns <- server
	return client
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// fakeLoop is a loop that has made passes passes.
type fakeLoop struct {
	mu     sync.Mutex
	passes uint64
	inPoll bool
	sig    chan struct{}
}

// newFakeLoop is a loop busy running guest code, that has turned once
// (the guest's start).
func newFakeLoop() *fakeLoop { return &fakeLoop{passes: 1, sig: make(chan struct{}, 1)} }

func (f *fakeLoop) Passes() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.passes }
func (f *fakeLoop) InPoll() bool   { f.mu.Lock(); defer f.mu.Unlock(); return f.inPoll }
func (f *fakeLoop) PassSignal() <-chan struct{} {
	return f.sig
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
// no guest, its gate over a fake listener.
func policyWorker(t *testing.T, p Policy, cfg Config) (*worker, gate, *fakeListener, *fakeLoop) {
	t.Helper()
	cfg = cfg.WithDefaults()
	cfg.Model = p.Model()
	w := &worker{policy: p, inflight: map[uint64]*inflight{}, busyConns: map[net.Conn]bool{}, idleConns: map[net.Conn]bool{},
		spec: workerSpec{Model: p.Model(), Lanes: p.Lanes(&cfg), serving: serving{
			Connections: cfg.Connections, AsyncRequestWorkerFactor: cfg.AsyncRequestWorkerFactor, KeepAlive: true,
		}}}
	loop := newFakeLoop()
	w.board = privateRow(p.Lanes(&cfg))
	for i := range p.Lanes(&cfg) {
		w.lanes = append(w.lanes, &lane{index: i, loop: loop, state: &w.board.lanes[i]})
	}
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
		start, slots := p.Pool(&cfg)
		if got := [3]int{start, slots, p.Lanes(&cfg)}; got != want[p.Model()] {
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
// worker_connections at most. Event: ThreadsPerChild +
// AsyncRequestWorkerFactor × idle threads.
func TestPolicyAcceptGating(t *testing.T) {
	cfg := Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 3, Connections: 100}
	want := map[Model]int{Process: 1, Thread: 2, Reactor: 1, EventMPM: 2 + 3*2}
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
	_, g, ln, loop := policyWorker(t, reactorPolicy{}, Config{})
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
		l, done, ok := g.serve(cs)
		if !ok || l == nil {
			t.Fatal("no lane for the request")
		}
		done()
		w.connState(c, httpStateIdle)
		pinned := g.pinsLanes()
		if want := p.Model() != EventMPM; pinned != want {
			t.Errorf("pinsLanes() = %v, want %v", pinned, want)
		}
		// Another connection's request: it gets a lane only if the idle
		// connection does not hold it.
		if pinned {
			if got := w.board.state(0); got != laneKeepAlive {
				t.Errorf("the pinned lane's state is %v, want keepalive", got)
			}
			return
		}
		l2, done2, ok := g.serve(&connState{id: 2})
		if !ok || l2 != w.lanes[0] {
			t.Fatalf("the idle connection kept its thread: got %v", l2)
		}
		done2()
	})
}

// Event at its connection limit with every thread busy closes its idle
// keep-alive connections to make room, as Apache's listener does, and
// accepts again once a thread is free.
func TestEventClosesIdleConnectionsWhenBusy(t *testing.T) {
	w, g, ln, _ := policyWorker(t, eventPolicy{}, Config{ThreadsPerChild: 2, AsyncRequestWorkerFactor: 1})
	for range 5 {
		defer ln.dial().Close()
	}
	var conns []net.Conn
	for range 4 { // the limit with both threads idle: 2 + 1 × 2
		c, ok := takes(accepted(g))
		if !ok {
			t.Fatal("a connection under the limit was not taken")
		}
		conns = append(conns, c)
	}
	w.connState(conns[2], httpStateIdle)
	w.connState(conns[3], httpStateIdle)
	_, done0, _ := g.serve(conns[0].(*gatedConn).cs)
	_, done1, _ := g.serve(conns[1].(*gatedConn).cs) // both threads busy: the limit is 2
	next := accepted(g)
	if _, ok := takes(next); ok {
		t.Fatal("a connection was taken while every thread was busy at the limit")
	}
	for _, c := range conns[2:] {
		if _, err := c.Write([]byte("x")); err == nil {
			t.Error("an idle keep-alive connection is still open at the limit")
		}
	}
	done0()
	if _, ok := takes(next); !ok {
		t.Error("no connection taken once a thread was free")
	}
	done1()
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
	for _, m := range []string{"process", "thread", "reactor", "event"} {
		if got, err := ParseModel(m); err != nil || string(got) != m {
			t.Errorf("ParseModel(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseModel("prefork"); err == nil || !strings.Contains(err.Error(), "process, thread, reactor or event") {
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
