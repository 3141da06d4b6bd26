package models

import (
	"context"
	"net"
	"net/http"
	"sync"
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
//   - eventGate (event): accept while open connections stay under
//     ThreadsPerChild + AsyncRequestWorkerFactor × idle threads; a request,
//     not a connection, takes a thread.

// loopClock is what the reactor's gate reads of its loop
// (*vwasi.Conn, through runtime.Instance.Loop).
type loopClock interface {
	Passes() uint64
	InPoll() bool
	PassSignal() <-chan struct{}
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
func (g *gateBase) wrap(c net.Conn, l *lane, release func()) net.Conn {
	g.count++
	id := g.w.conns.Add(1)
	if g.w.spec.Trace {
		lane := 0
		if l != nil {
			lane = l.index
		}
		g.w.emit(Event{Kind: EventConn, Lane: lane, Conn: id})
	}
	return &gatedConn{Conn: c, cs: &connState{id: id, lane: l}, release: release}
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

func (g *laneGate) serve(cs *connState) (*lane, func(), bool) { return cs.lane, func() {}, true }
func (g *laneGate) pinsLanes() bool                           { return true }

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

func (g *loopGate) serve(*connState) (*lane, func(), bool) { return g.w.lanes[0], func() {}, true }
func (g *loopGate) pinsLanes() bool                        { return false }

// eventGate is Apache event's listener: it holds every connection of its
// process and hands a request, when one arrives, to a free worker thread.
// It accepts while the process has fewer open connections than
// ThreadsPerChild + AsyncRequestWorkerFactor × idle threads; at that limit
// it stops accepting (new connections wait in the listen backlog, for this
// process or another), and if no thread is idle it closes idle keep-alive
// connections to make room.
type eventGate struct {
	gateBase
	free    chan *lane
	mu      sync.Mutex
	open    int
	changed chan struct{} // poked when a thread or a connection frees up
}

func newEventGate(w *worker, inner net.Listener) *eventGate {
	g := &eventGate{gateBase: newGateBase(w, inner), free: make(chan *lane, len(w.lanes)), changed: make(chan struct{}, 1)}
	for _, l := range w.lanes {
		g.free <- l
	}
	return g
}

// limit is the most connections the process may hold now.
func (g *eventGate) limit() int {
	return len(g.w.lanes) + g.w.spec.AsyncRequestWorkerFactor*len(g.free)
}

func (g *eventGate) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *eventGate) Accept() (net.Conn, error) {
	for {
		if g.refuse() {
			return g.waitClosed()
		}
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if open < g.limit() {
			break
		}
		if len(g.free) == 0 {
			g.w.closeIdleConn() // every thread busy: make room
		}
		select {
		case <-g.changed:
		case <-g.closed:
			return nil, net.ErrClosed
		}
	}
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.open++
	g.mu.Unlock()
	return g.wrap(c, nil, func() {
		g.mu.Lock()
		g.open--
		g.mu.Unlock()
		g.poke()
	}), nil
}

// serve takes a free thread for one request; the connection goes back to
// the listener (costing no thread) when the response is out.
func (g *eventGate) serve(cs *connState) (*lane, func(), bool) {
	var l *lane
	select {
	case l = <-g.free:
	case <-g.closed:
		return nil, nil, false
	}
	g.w.setState(l, laneSending)
	return l, func() {
		g.w.setState(l, laneIdle)
		g.free <- l
		g.poke()
	}, true
}

func (g *eventGate) pinsLanes() bool { return false }

// gatedConn gives its lane (or its place) back when it closes.
type gatedConn struct {
	net.Conn
	cs      *connState
	once    sync.Once
	release func()
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connState is what a worker knows of one connection.
type connState struct {
	id       uint64
	lane     *lane // the lane it holds, if its model pins one (else nil)
	requests int
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

// closeIdleConn closes one idle keep-alive connection, if any (Apache
// event at its connection limit with no idle thread).
func (w *worker) closeIdleConn() {
	w.connMu.Lock()
	var victim net.Conn
	for c := range w.idleConns {
		victim = c
		break
	}
	if victim != nil {
		delete(w.idleConns, victim)
	}
	w.connMu.Unlock()
	if victim != nil {
		victim.Close()
	}
}
