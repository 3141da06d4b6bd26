package models

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// The worker's accept policies (gates). Every worker process accepts from
// the one listening socket the supervisor opened; a connection that no
// worker takes waits in the kernel's accept queue, as it would for Apache
// or nginx. A model's Policy picks its gate:
//
//   - laneGate (process, thread): accept only when a lane is free; the
//     connection holds that lane until it closes.
//   - loopGate (reactor): one connection per pass of the loop, up to
//     worker_connections open.
//   - eventGate (event): accept with an idle thread reserved, while open
//     connections stay under ThreadsPerChild + AsyncRequestWorkerFactor ×
//     idle threads; a request, not a connection, takes a thread, and a
//     request that finds none closes the idle keep-alive connections, each
//     by a lingering close that needs a thread again.

// loopClock is what a gate reads of a lane's guest (*vwasi.Conn, through
// runtime.Instance.Loop): the reactor's gate its loop's passes, the event
// gate whether a thread has read the request it was handed.
type loopClock interface {
	Passes() uint64
	InPoll() bool
	PassSignal() <-chan struct{}
	ReadBytes() uint64
}

// gateBase is what every gate shares: the socket, the connection quota
// (MaxConnectionsPerChild) and closing.
type gateBase struct {
	net.Listener
	w         *worker
	closed    chan struct{}
	closeOnce sync.Once
	count     int // connections accepted (Accept runs on one goroutine)
}

func newGateBase(w *worker, inner net.Listener) gateBase {
	return gateBase{Listener: inner, w: w, closed: make(chan struct{})}
}

// Close stops accepting: it wakes an Accept that waits for a lane, a loop
// pass or the end of the connection quota.
func (g *gateBase) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// refuse retires the worker once its connections are done, if it
// has accepted MaxConnectionsPerChild (as Apache's child does), and then
// reports the listener closed. It also refuses new connections to a dying
// worker, whose exit would drop them.
func (g *gateBase) refuse() bool {
	if max := g.w.spec.MaxConnectionsPerChild; max > 0 && g.count >= max {
		g.w.retireWhenQuiet()
		return true
	}
	return g.w.stopping()
}

// waitClosed blocks until the gate is closed and reports it so.
func (g *gateBase) waitClosed() (net.Conn, error) {
	<-g.closed
	return nil, net.ErrClosed
}

// wrap counts and traces an accepted connection; release runs once when it
// closes.
func (g *gateBase) wrap(c net.Conn, l *lane, release func()) *gatedConn {
	g.count++
	id := g.w.conns.Add(1)
	if g.w.spec.Trace {
		lane := 0
		if l != nil {
			lane = l.index
		}
		g.w.emit(stream.Event{Kind: stream.EventConn, Lane: lane, Conn: id})
	}
	gc := &gatedConn{Conn: c, cs: &connState{id: id, lane: l}, release: release}
	if !g.w.policy.Threads() && !g.w.policy.Loop() {
		gc.sock = newRawSocket(c) // a prefork process's: see rawSocket
	}
	return gc
}

// laneGate is the process and thread models' accept policy: a listener
// that takes a connection only when one of its lanes is free, and the
// connection keeps the lane until it closes.
type laneGate struct {
	gateBase
	free chan *lane
}

func newLaneGate(w *worker, inner net.Listener) *laneGate {
	g := &laneGate{gateBase: newGateBase(w, inner), free: make(chan *lane, len(w.lanes))}
	for _, l := range w.lanes {
		g.free <- l
	}
	return g
}

func (g *laneGate) Accept() (net.Conn, error) {
	if g.refuse() {
		return g.waitClosed()
	}
	var l *lane
	select {
	case l = <-g.free:
	case <-g.closed:
		return nil, net.ErrClosed
	}
	if g.w.stopping() {
		// The lane came back from the request that crashed it: take no
		// connection that the exit would drop.
		return g.waitClosed()
	}
	c, err := g.Listener.Accept()
	if err != nil {
		g.free <- l
		return nil, err
	}
	g.w.setState(l, laneReading)
	return g.wrap(c, l, func() {
		g.w.setState(l, laneIdle)
		g.free <- l
	}), nil
}

func (g *laneGate) serve(cs *connState) (*lane, func(), error) { return cs.lane, func() {}, nil }
func (g *laneGate) pinsLanes() bool                            { return true }

// loopGate is the reactor's accept policy: nginx with multi_accept off
// takes at most one connection per pass of its loop, so a loop held in
// guest code accepts nothing; past worker_connections open connections, a
// new one is accepted and closed at once, as nginx does.
type loopGate struct {
	gateBase
	lastPass uint64
	mu       sync.Mutex
	open     int
}

func newLoopGate(w *worker, inner net.Listener) *loopGate {
	return &loopGate{gateBase: newGateBase(w, inner)}
}

func (g *loopGate) Accept() (net.Conn, error) {
	if g.refuse() {
		return g.waitClosed()
	}
	loop := g.w.lanes[0].loop
	for {
		p := loop.Passes()
		if p > g.lastPass || loop.InPoll() {
			g.lastPass = p
			break
		}
		select {
		case <-loop.PassSignal():
		case <-g.closed:
			return nil, net.ErrClosed
		}
	}
	for {
		if g.w.stopping() {
			return g.waitClosed()
		}
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		full := g.w.spec.Connections > 0 && g.open >= g.w.spec.Connections
		if !full {
			g.open++
		}
		g.mu.Unlock()
		if full {
			c.Close() // worker_connections exhausted
			continue
		}
		return g.wrap(c, g.w.lanes[0], func() {
			g.mu.Lock()
			g.open--
			g.mu.Unlock()
		}), nil
	}
}

func (g *loopGate) serve(*connState) (*lane, func(), error) { return g.w.lanes[0], func() {}, nil }
func (g *loopGate) pinsLanes() bool                         { return false }

// eventGate is Apache event's listener (server/mpm/event/event.c,
// listener_thread): it holds every connection of its process and hands each
// request to a worker thread, never waiting for one:
//
//   - A connection is accepted only when one is pending in the backlog and
//     the listener is enabled, and then only with a thread reserved for it
//     (get_worker), which reads and serves its first request. Both
//     processes wake to each pending connection; the one that loses the
//     race keeps its thread reserved, not idle, for its next connection,
//     request or close (have_idle_worker).
//   - When one is pending and no thread is idle, the listener stops
//     accepting and closes every idle keep-alive connection of its process
//     ("kill'em all": process_keepalive_queue(0)), so that their clients
//     come back through the backlog, to whichever process has room. When
//     threads are idle but the process holds ThreadsPerChild +
//     AsyncRequestWorkerFactor × idle threads connections or more
//     (connections_above_limit), it stops accepting and closes nothing.
//   - A request on a kept-alive connection takes an idle thread or, if none
//     is, its connection is closed unanswered (the client retries on a new
//     one) and so is every idle keep-alive connection.
//   - A listener that stopped accepting starts again once the process is
//     under its limit counted with one idle thread fewer
//     (should_enable_listensocks: "off by one to avoid flip flop"), checked
//     whenever a connection closes or a thread goes idle.
//   - A connection it closes (killed, or whose request found no thread) is
//     shut down as Apache's are (shutdown_connection, then
//     process_lingering_close): it stops counting at once, a thread sends
//     its FIN (one idle now, else the next done with its request:
//     defer_linger_chain), and when the client's FIN comes back the
//     listener wants an idle thread, without waiting, to finish the close;
//     finding none, it closes every idle keep-alive connection again.
//
// Idle threads are those neither serving nor reserved, as
// ap_queue_info_num_idlers counts them. A connection counts once its thread
// has taken it up: Apache's worker, not its listener, increments
// connection_count (in process_socket) when it wakes to the connection; here
// the thread is the guest instance, which has taken the connection up once
// it has read its first request. A listener that accepts faster than its
// threads wake so runs out of threads before it reaches its limit, and then
// closes the idle keep-alive connections. A connection being closed no
// longer counts (Apache subtracts its lingering closes).
type eventGate struct {
	gateBase
	backlog      backlog
	closeBacklog func() error // if the gate opened it
	mu           sync.Mutex
	idle         []*lane       // threads neither serving nor reserved
	open         int           // connections taken up by a thread and not closed
	handed       []handoff     // first requests handed to a thread not yet awake to them
	disabled     bool          // the listener stopped accepting (listensocks_disabled)
	changed      chan struct{} // poked when a thread or a connection frees up
	// reserved is the thread the listener reserved for a connection that
	// another process accepted first: Apache's listener keeps it
	// (have_idle_worker) for its next connection, request or close, and
	// it is not idle meanwhile (ap_queue_info_num_idlers leaves it out).
	reserved *lane
	// chain holds the connections shut down while no thread was idle,
	// waiting for one to start their lingering close (defer_linger_chain).
	chain []lingerer
}

// lingerer is a connection to be closed the way Apache's event MPM
// closes one it shuts down (shutdown_connection, then
// process_lingering_close): a thread sends its FIN, and when the client's
// own FIN comes back the listener needs a thread again to finish it.
type lingerer struct {
	c *gatedConn
	// read: the gate reads to the client's FIN itself (a hijacked
	// connection); otherwise net/http's read of the next request does, and
	// closes the connection.
	read bool
}

// handoff is a new connection's first request handed to its thread, which
// takes the connection up once the guest has read past mark.
type handoff struct {
	l    *lane
	cs   *connState
	mark uint64
}

// settle counts the connections whose threads have taken them up, and
// the one handed to thread done, which is finished with it (read or not);
// it drops the one of closed, which no longer counts. Call it with g.mu
// held.
func (g *eventGate) settle(done *lane, closed *connState) {
	kept := g.handed[:0]
	for _, h := range g.handed {
		switch {
		case h.cs == closed:
		case h.l == done || h.l.loop.ReadBytes() > h.mark:
			h.cs.counted = true
			g.open++
		default:
			kept = append(kept, h)
		}
	}
	clear(g.handed[len(kept):])
	g.handed = kept
}

// backlog is the listening socket as Apache's listener polls it: wait
// for a connection to be pending without taking it, then take it without
// waiting long, as another process may have been faster.
type backlog interface {
	waitPending() error
	tryAccept() (net.Conn, error) // errNotPending if none is
}

func newEventGate(w *worker, inner net.Listener) *eventGate {
	g := &eventGate{gateBase: newGateBase(w, inner), idle: slices.Clone(w.lanes), changed: make(chan struct{}, 1)}
	if b, ok := inner.(backlog); ok {
		g.backlog = b
	} else {
		sb := newSocketBacklog(inner)
		g.backlog, g.closeBacklog = sb, sb.Close
	}
	return g
}

// Close stops accepting, as gateBase.Close does, and closes the backlog it
// polls.
func (g *eventGate) Close() error {
	if g.closeBacklog != nil {
		g.closeBacklog()
	}
	return g.gateBase.Close()
}

// aboveLimit is Apache's connections_above_limit: no idle thread (busy),
// or as many connections as ThreadsPerChild + AsyncRequestWorkerFactor ×
// idle threads, counted with one idle thread fewer while the listener is
// off. Call it with g.mu held.
func (g *eventGate) aboveLimit() (above, busy bool) {
	g.settle(nil, nil)
	idle := len(g.idle)
	if idle == 0 {
		return true, true
	}
	if g.disabled {
		idle--
	}
	return g.open >= len(g.w.lanes)+g.w.spec.AsyncRequestWorkerFactor*idle, false
}

func (g *eventGate) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// takeIdle reserves an idle thread, if any: the one the listener kept
// from a lost race first (get_worker with have_idle_worker set). Call it
// with g.mu held.
func (g *eventGate) takeIdle() *lane {
	if l := g.reserved; l != nil {
		g.reserved = nil
		return l
	}
	n := len(g.idle)
	if n == 0 {
		return nil
	}
	l := g.idle[n-1]
	g.idle = g.idle[:n-1]
	return l
}

// putIdle gives a thread back, and lets the listener see whether it may
// accept again.
func (g *eventGate) putIdle(l *lane) {
	g.w.setState(l, laneIdle)
	g.mu.Lock()
	chain := g.chain
	g.chain = nil
	g.idle = append(g.idle, l)
	g.mu.Unlock()
	// A thread done with its work starts the lingering closes waiting for
	// one before it goes idle (worker_thread, after process_socket).
	for _, lc := range chain {
		g.startLinger(lc)
	}
	g.poke()
}

// kill closes every idle keep-alive connection of the process, as
// Apache's listener does when it finds no idle thread
// (process_keepalive_queue(0): "kill'em all"), each by shutdown.
func (g *eventGate) kill() {
	for _, c := range g.w.takeIdleConns() {
		g.shutdown(c, false)
	}
}

// shutdown is Apache's shutdown_connection of a connection the process
// gives up on (killed while kept alive, or whose request found no thread):
// it stops counting against the limit at once (Apache counts it among
// the lingering closes, which connections_above_limit subtracts), and its
// lingering close starts on a thread — now if one is idle, else on the
// next that is done with its request (defer_linger_chain). read says the
// gate, not net/http, is to read to the client's FIN.
func (g *eventGate) shutdown(c net.Conn, read bool) {
	gc, ok := c.(*gatedConn)
	_, halfClose := tcpOf(c).(interface{ CloseWrite() error })
	if !ok || !halfClose {
		c.Close() // no half-close to linger on (a test's pipe)
		return
	}
	g.mu.Lock()
	if gc.cs.closed {
		// Closed already (its client hung up, or its keep-alive timed
		// out) but still in the worker's books of idle connections for a
		// moment: not the listener's to shut down, nor to count again.
		g.mu.Unlock()
		return
	}
	g.settle(nil, gc.cs)
	if gc.cs.counted {
		gc.cs.counted = false
		g.open--
	}
	gc.cs.lingering = true
	// A thread reserved from a lost race does the work and goes idle
	// (push2worker, then ap_queue_info_set_idle); an idle one does it and
	// stays idle.
	kept := g.reserved
	g.reserved = nil
	now := kept != nil || len(g.idle) > 0
	if !now {
		g.chain = append(g.chain, lingerer{c: gc, read: read})
	}
	g.mu.Unlock()
	if now {
		g.startLinger(lingerer{c: gc, read: read})
	}
	if kept != nil {
		g.putIdle(kept)
	}
	g.poke()
}

// startLinger is process_lingering_close's start: the FIN goes to the
// client, and the connection waits (at most SECONDS_TO_LINGER) for the
// client's; its close then needs a thread (see lingerDone).
func (g *eventGate) startLinger(lc lingerer) {
	raw := tcpOf(lc.c)
	raw.(interface{ CloseWrite() error }).CloseWrite()
	raw.SetReadDeadline(time.Now().Add(lingerWait))
	if lc.read {
		go func() {
			io.Copy(io.Discard, raw)
			lc.c.Close()
		}()
	}
}

// lingerWait is Apache's SECONDS_TO_LINGER: how long a connection in
// short lingering close waits for its client's FIN.
const lingerWait = 2 * time.Second

// lingerDone: the client's FIN came back to a lingering connection, and
// Apache's listener wants a thread, without waiting, to finish closing it;
// with none idle, its workers are busy, and it closes every idle
// keep-alive connection (the listener's get_worker for a readable
// lingering connection, and process_keepalive_queue(0)).
func (g *eventGate) lingerDone() {
	g.mu.Lock()
	l := g.takeIdle()
	g.mu.Unlock()
	if l == nil {
		g.kill()
		return
	}
	g.putIdle(l)
}

// tcpOf is the connection under c's wrapper.
func tcpOf(c net.Conn) net.Conn {
	if gc, ok := c.(*gatedConn); ok {
		return gc.Conn
	}
	return c
}

func (g *eventGate) Accept() (net.Conn, error) {
	for {
		if g.refuse() {
			return g.waitClosed()
		}
		g.mu.Lock()
		if g.disabled {
			if above, _ := g.aboveLimit(); !above {
				g.disabled = false // enable_listensocks
			}
		}
		off := g.disabled
		g.mu.Unlock()
		if off {
			select {
			case <-g.changed:
				continue
			case <-g.closed:
				return nil, net.ErrClosed
			}
		}
		if err := g.backlog.waitPending(); err != nil {
			return nil, err
		}
		if g.refuse() {
			return g.waitClosed()
		}
		g.mu.Lock()
		above, busy := g.aboveLimit()
		var l *lane
		if above {
			g.disabled = true
		} else {
			l = g.takeIdle()
		}
		g.mu.Unlock()
		if busy {
			g.kill()
		}
		if l == nil {
			continue
		}
		c, err := g.backlog.tryAccept()
		if errors.Is(err, errNotPending) {
			// Another process took it: the listener keeps the thread
			// reserved (get_worker: "already reserved a worker thread").
			g.mu.Lock()
			g.reserved = l
			g.mu.Unlock()
			continue
		}
		if err != nil {
			g.putIdle(l)
			return nil, err
		}
		g.w.setState(l, laneReading)
		var gc *gatedConn
		gc = g.wrap(c, nil, func() {
			g.mu.Lock()
			g.settle(nil, gc.cs)
			gc.cs.closed = true
			if gc.cs.counted {
				gc.cs.counted = false
				g.open--
			}
			first := gc.cs.first
			gc.cs.first = nil
			lingering := gc.cs.lingering
			g.mu.Unlock()
			if first != nil { // closed before its first request was served
				g.putIdle(first)
			}
			if lingering {
				g.lingerDone()
			}
			g.poke()
		})
		gc.cs.first = l
		return gc, nil
	}
}

// serve gives a request the thread its connection was accepted with (its
// first request) or an idle one; with none idle, the connection is to be
// closed unanswered (errNoThread) and every idle keep-alive connection of
// the process is closed. The thread goes back when the response is out,
// the connection to the listener (costing no thread).
func (g *eventGate) serve(cs *connState) (*lane, func(), error) {
	select {
	case <-g.closed:
		return nil, nil, errClosing
	default:
	}
	g.mu.Lock()
	l := cs.first
	if l != nil { // it counts once the thread has read the request
		cs.first = nil
		g.handed = append(g.handed, handoff{l: l, cs: cs, mark: l.loop.ReadBytes()})
	} else {
		l = g.takeIdle()
	}
	g.mu.Unlock()
	if l == nil {
		g.kill()
		return nil, nil, errNoThread
	}
	g.w.setState(l, laneSending)
	return l, func() {
		g.mu.Lock()
		g.settle(l, nil)
		g.mu.Unlock()
		g.putIdle(l)
	}, nil
}

func (g *eventGate) pinsLanes() bool { return false }

// gatedConn gives its lane (or its place) back when it closes. On a gate
// that parks idle connections (park.go), park is set and a close that
// parks it leaves the socket open.
type gatedConn struct {
	net.Conn
	sock    *rawSocket // its reads and writes, in a prefork process (rawio_linux.go)
	cs      *connState
	once    sync.Once
	release func()
	park    *parkedConn
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.park == nil {
		return c.read(p)
	}
	return c.park.read(c, p)
}

// read reads the connection itself, not through its park.
func (c *gatedConn) read(p []byte) (int, error) {
	if c.sock == nil {
		return c.Conn.Read(p)
	}
	return c.sock.Read(p)
}

func (c *gatedConn) Write(p []byte) (int, error) {
	if c.sock == nil {
		return c.Conn.Write(p)
	}
	return c.sock.Write(p)
}

func (c *gatedConn) SetReadDeadline(t time.Time) error {
	if c.park == nil {
		return c.Conn.SetReadDeadline(t)
	}
	return c.park.setReadDeadline(c, t)
}

func (c *gatedConn) Close() error {
	if c.park != nil && c.park.parking.Load() {
		return nil // parked, not closed: see parker.connState
	}
	return c.closeSocket()
}

// closeSocket closes the connection and gives its lane or place back.
func (c *gatedConn) closeSocket() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connState is what a worker knows of one connection.
type connState struct {
	id        uint64
	lane      *lane // the lane it holds, if its model pins one (else nil)
	first     *lane // event: the thread reserved at accept for its first request
	counted   bool  // event: its thread took it up; it counts against the limit
	lingering bool  // event: shut down by the process, in lingering close
	closed    bool  // event: closed; it neither counts nor can be shut down
	requests  int
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*gatedConn); ok {
		return context.WithValue(ctx, connKey{}, gc.cs)
	}
	return context.WithValue(ctx, connKey{}, &connState{})
}

// connState follows net/http's view of every connection: it counts
// connections by state and, where a connection pins its lane, keeps the
// lane's scoreboard state (reading a request, or waiting for the next one
// on a keep-alive connection).
func (w *worker) connState(c net.Conn, s http.ConnState) {
	if gc, ok := c.(*gatedConn); ok && gc.park != nil && gc.park.p.connState(gc, s) {
		return // parked: still an idle keep-alive connection
	}
	w.connMu.Lock()
	switch s {
	case http.StateNew, http.StateActive:
		w.busyConns[c] = true
	default:
		delete(w.busyConns, c)
	}
	if s == http.StateIdle {
		w.idleConns[c] = true
	} else {
		delete(w.idleConns, c)
	}
	w.connMu.Unlock()
	gc, ok := c.(*gatedConn)
	if !ok || !w.gate.pinsLanes() || gc.cs.lane == nil {
		return
	}
	switch s {
	case http.StateActive:
		w.setState(gc.cs.lane, laneReading)
	case http.StateIdle:
		w.setState(gc.cs.lane, laneKeepAlive)
	}
}

// connGone takes a connection that net/http no longer serves (parked,
// then closed) out of the worker's books.
func (w *worker) connGone(c net.Conn) {
	w.connMu.Lock()
	delete(w.busyConns, c)
	delete(w.idleConns, c)
	w.connMu.Unlock()
}

// takeIdleConns removes every idle keep-alive connection from the
// worker's books and returns them, for Apache event's listener to close
// when it finds no idle thread.
func (w *worker) takeIdleConns() []net.Conn {
	w.connMu.Lock()
	victims := make([]net.Conn, 0, len(w.idleConns))
	for c := range w.idleConns {
		victims = append(victims, c)
		delete(w.idleConns, c)
	}
	w.connMu.Unlock()
	return victims
}
