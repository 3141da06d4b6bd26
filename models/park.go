package models

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Idle keep-alive connections parked in the kernel (the reactor).
//
// nginx keeps a connection between two requests as a few hundred bytes of
// state and a registration in its epoll set: nothing runs for it until the
// client sends again (ngx_http_set_keepalive). Go's net/http keeps a
// goroutine blocked in a read for it, with its stack and two 4 KiB
// buffers: some 20 KB a connection, forty times nginx's. A loop that
// models nginx parks its idle connections instead:
//
//   - net/http serves a connection as usual until it is idle between
//     requests (ConnState StateIdle) and reads for the next one;
//   - that read, with nothing buffered, waits parkAfter; if the client has
//     sent nothing by then, it fails with errParked, net/http ends the
//     connection's goroutine and "closes" it, and the close leaves the
//     socket open;
//   - the StateClosed that follows hands the socket to the parker: one
//     epoll set per worker process, each connection registered one-shot,
//     and queued for its keep-alive timeout;
//   - when the client sends again (or hangs up), the parker hands the
//     connection back to net/http through the listener's Accept, as a
//     connection net/http has not seen: a new goroutine reads the request.
//     The gate's accounting (worker_connections, the connection's id and
//     request count) is the gatedConn's and carries over.
//
// Only net/http's wait for the next request parks, and only with nothing
// buffered; nothing it has read is lost:
//
//   - the wait is the first read after net/http, having reported the
//     connection idle, sets its idle deadline (serve: StateIdle, then
//     SetReadDeadline, then Peek); any other read or deadline ends the
//     chance (idleState), so a read of a request's body never parks;
//   - its buffer is empty when that read asks for all of it (bufio asks
//     for the whole buffer only when it holds nothing; a connection's
//     first read tells the buffer's size). A byte net/http's background
//     read took while the handler ran, or pipelined bytes, make the wait
//     read less or not at all.
//
// A parked connection costs the gatedConn and its connState, Go's netFD
// and the runtime's poll descriptor, its place in the queue of keep-alive
// timeouts and map entries: under a kilobyte (RATIONALE.md, "An idle
// connection on the loop is parked"). A request on a connection that was
// parked costs a wake-up of the parker and a new goroutine, as in nginx it
// costs an epoll event.

// parkAfter is how long a connection stays idle on its goroutine before
// it is parked: a keep-alive client that sends its next request at once
// (a load generator's) costs no parking, which costs a wake-up of the
// parker and a new goroutine per request (about 30 µs of CPU here).
const parkAfter = 10 * time.Millisecond

// errParked is what a parking read returns: the connection is idle with
// nothing to read, and is to be parked.
var errParked = errors.New("mpmlab: idle connection parked")

// parkedConn is what a gatedConn carries when its gate parks idle
// connections.
type parkedConn struct {
	p  *parker
	fd int32
	// bufLen is the length of the connection's first read: net/http's
	// read buffer, empty, asking for all of it.
	bufLen int
	// idle follows net/http's wait for the next request (idleState).
	idle atomic.Uint32
	// parking is set by a read that parked, so that the close that
	// follows keeps the socket open.
	parking atomic.Bool
	// While parked: when its keep-alive ends, and its neighbours in the
	// parker's queue of parked connections, oldest first.
	deadline   time.Time
	prev, next *gatedConn
	// gen numbers its parks: an event the poller reported for an earlier
	// park (of this socket, or of another that had its number) wakes
	// nothing.
	gen uint32
}

// idleState is where a connection is in net/http's wait for its next
// request: reported idle (StateIdle), then given its idle deadline; the
// next read is the wait, and may park. Any other deadline or read goes back
// to idleNone.
const (
	idleNone     = iota
	idleReported // ConnState StateIdle
	idleWaiting  // and SetReadDeadline: the next read is the wait
)

// setReadDeadline is gatedConn.SetReadDeadline on a connection its gate
// parks: net/http's first after StateIdle starts its wait.
func (pc *parkedConn) setReadDeadline(c *gatedConn, t time.Time) error {
	if !pc.idle.CompareAndSwap(idleReported, idleWaiting) {
		pc.idle.Store(idleNone)
	}
	return c.Conn.SetReadDeadline(t)
}

// read is gatedConn.Read on a connection its gate parks.
func (pc *parkedConn) read(c *gatedConn, p []byte) (int, error) {
	if pc.bufLen == 0 {
		pc.bufLen = len(p)
	}
	if pc.idle.Swap(idleNone) != idleWaiting || len(p) != pc.bufLen {
		return c.read(p)
	}
	if ka := pc.p.keepAlive; ka > 0 && ka <= parkAfter {
		return c.read(p) // it closes before it would park
	}
	start := time.Now()
	c.Conn.SetReadDeadline(start.Add(parkAfter))
	n, err := c.read(p)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		pc.parking.Store(true)
		return 0, errParked
	}
	// The client is sending: the rest of its request may take longer
	// than parkAfter. Put back the idle deadline net/http set for this
	// wait (IdleTimeout, the keep-alive timeout, from about now).
	var idle time.Time
	if ka := pc.p.keepAlive; ka > 0 {
		idle = start.Add(ka)
	}
	c.Conn.SetReadDeadline(idle)
	return n, err
}

// parker holds a worker process's parked connections, and gives back
// those a client writes to (or hangs up on) to the gate's Accept.
type parker struct {
	w         *worker
	keepAlive time.Duration
	poll      poller
	woken     chan *gatedConn
	done      chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[int32]*gatedConn // parked, by socket
	// Every parked connection waits the same keep-alive timeout, so they
	// expire in the order they parked: a queue and one timer for its
	// head, not a timer each.
	oldest, newest *gatedConn
	timer          *time.Timer
}

// poller is the kernel's readiness set for parked sockets: epoll on
// Linux (park_linux.go).
type poller interface {
	// add watches fd for one read, hang-up or error; its event carries
	// gen.
	add(fd int32, gen uint32) error
	// remove stops watching fd.
	remove(fd int32)
	// wait blocks until some watched sockets are ready and calls ready
	// for each, with the gen it was added with; it returns when the poller
	// is closed.
	wait(ready func(fd int32, gen uint32)) error
	close() error
}

// parkingGate is a gate whose idle keep-alive connections wait in the
// parker: its Accept returns, first, the parked connections a client has
// written to, then the inner gate's new ones.
type parkingGate struct {
	gate
	p         *parker
	accepted  chan acceptResult
	accepting bool // an inner Accept is under way (Accept runs on one goroutine)
}

type acceptResult struct {
	c   net.Conn
	err error
}

// parkIdle makes g park its idle keep-alive connections where the
// platform allows (Linux), and returns g unchanged elsewhere, or when the
// worker has no keep-alive.
func parkIdle(w *worker, g gate) gate {
	if !w.spec.KeepAlive {
		return g
	}
	poll, err := newPoller()
	if err != nil {
		return g
	}
	p := &parker{w: w, keepAlive: w.spec.KeepAliveTimeout, poll: poll,
		woken: make(chan *gatedConn, 64), done: make(chan struct{}), conns: map[int32]*gatedConn{}}
	go p.run()
	return &parkingGate{gate: g, p: p, accepted: make(chan acceptResult, 1)}
}

func (g *parkingGate) Accept() (net.Conn, error) {
	for {
		woken := g.p.woken
		select {
		case <-g.p.done:
			woken = nil // closed: the inner gate's Accept says so
		default:
			select {
			case c := <-woken:
				return c, nil
			default:
			}
		}
		if !g.accepting {
			g.accepting = true
			go func() {
				c, err := g.gate.Accept()
				g.accepted <- acceptResult{c, err}
			}()
		}
		select {
		case c := <-woken:
			select {
			case <-g.p.done: // closed meanwhile: it is not to be served
				g.p.w.connGone(c)
				c.closeSocket()
				continue
			default:
			}
			return c, nil
		case r := <-g.accepted:
			g.accepting = false
			if gc, ok := r.c.(*gatedConn); ok {
				g.p.adopt(gc)
			}
			return r.c, r.err
		}
	}
}

// Close stops accepting and closes every parked connection, as nginx
// closes its idle keep-alive connections on a graceful stop.
func (g *parkingGate) Close() error {
	err := g.gate.Close()
	g.p.close()
	return err
}

// adopt makes gc a connection the parker may park, if its socket allows.
func (p *parker) adopt(gc *gatedConn) {
	sc, ok := gc.Conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	pc := &parkedConn{p: p, fd: -1}
	raw.Control(func(fd uintptr) { pc.fd = int32(fd) })
	if pc.fd < 0 {
		return
	}
	gc.park = pc
}

// connState is the worker's ConnState hook for a connection the parker
// may park. It reports true when the connection has just been parked
// (net/http is done with it, the socket is open): it stays in the
// worker's books as idle.
func (p *parker) connState(gc *gatedConn, s http.ConnState) bool {
	pc := gc.park
	switch s {
	case http.StateIdle:
		pc.idle.Store(idleReported)
	case http.StateClosed:
		if pc.parking.CompareAndSwap(true, false) {
			p.hold(gc)
			return true
		}
	}
	return false
}

// hold parks gc: it waits in the poller, up to the keep-alive timeout.
func (p *parker) hold(gc *gatedConn) {
	pc := gc.park
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.w.connGone(gc)
		gc.closeSocket()
		return
	}
	pc.gen++
	p.conns[pc.fd] = gc
	if ka := p.keepAlive - parkAfter; ka > 0 {
		pc.deadline = time.Now().Add(ka)
		p.enqueue(gc)
	}
	err := p.poll.add(pc.fd, pc.gen)
	if err != nil {
		p.unpark(gc)
	}
	p.mu.Unlock()
	if err != nil {
		// The kernel would not watch it: serve it as net/http would,
		// with a goroutine waiting on it.
		gc.park = nil
		p.give(gc)
	}
}

// enqueue puts gc at the end of the queue of parked connections, and
// sets the timer if gc is its head.
func (p *parker) enqueue(gc *gatedConn) {
	pc := gc.park
	pc.prev, pc.next = p.newest, nil
	if p.newest != nil {
		p.newest.park.next = gc
	} else {
		p.oldest = gc
		p.setTimer()
	}
	p.newest = gc
}

// unpark takes gc out of the parker's books and the poller (p.mu held).
func (p *parker) unpark(gc *gatedConn) {
	pc := gc.park
	delete(p.conns, pc.fd)
	p.poll.remove(pc.fd)
	if pc.deadline.IsZero() {
		return // not queued: no keep-alive timeout
	}
	if pc.prev != nil {
		pc.prev.park.next = pc.next
	} else {
		p.oldest = pc.next
	}
	if pc.next != nil {
		pc.next.park.prev = pc.prev
	} else {
		p.newest = pc.prev
	}
	pc.prev, pc.next, pc.deadline = nil, nil, time.Time{}
}

// setTimer arms the timer for the oldest parked connection's deadline.
func (p *parker) setTimer() {
	if p.oldest == nil {
		return
	}
	d := time.Until(p.oldest.park.deadline)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.expire)
	} else {
		p.timer.Reset(d)
	}
}

// expire closes the parked connections whose keep-alive has ended, as
// net/http closes an idle one at its IdleTimeout.
func (p *parker) expire() {
	p.mu.Lock()
	var ended []*gatedConn
	now := time.Now()
	for p.oldest != nil && !now.Before(p.oldest.park.deadline) {
		gc := p.oldest
		p.unpark(gc)
		ended = append(ended, gc)
	}
	if !p.closed {
		p.setTimer()
	}
	p.mu.Unlock()
	for _, gc := range ended {
		p.w.connGone(gc)
		gc.closeSocket()
	}
}

// run hands each parked connection a client writes to back to Accept.
func (p *parker) run() {
	p.poll.wait(func(fd int32, gen uint32) {
		p.mu.Lock()
		gc := p.conns[fd]
		if gc != nil && gc.park.gen == gen {
			p.unpark(gc)
		} else {
			gc = nil // an earlier park's event
		}
		p.mu.Unlock()
		if gc != nil {
			p.give(gc)
		}
	})
}

// give hands gc to the gate's Accept, as new to net/http, which sets the
// read deadlines it wants (the one that parked it has passed).
func (p *parker) give(gc *gatedConn) {
	gc.Conn.SetReadDeadline(time.Time{})
	select {
	case p.woken <- gc:
		select {
		case <-p.done: // closed meanwhile, perhaps after close drained
			p.drain()
		default:
		}
	case <-p.done:
		p.w.connGone(gc)
		gc.closeSocket()
	}
}

// drain closes the woken connections no Accept took.
func (p *parker) drain() {
	for {
		select {
		case gc := <-p.woken:
			p.w.connGone(gc)
			gc.closeSocket()
		default:
			return
		}
	}
}

// close closes the poller and every parked connection, and those woken
// that no Accept took.
func (p *parker) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	parked := make([]*gatedConn, 0, len(p.conns))
	for _, gc := range p.conns {
		parked = append(parked, gc)
	}
	for _, gc := range parked {
		p.unpark(gc)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	close(p.done)
	p.mu.Unlock()
	p.poll.close()
	for _, gc := range parked {
		p.w.connGone(gc)
		gc.closeSocket()
	}
	p.drain()
}
