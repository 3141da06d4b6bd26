package models

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gatedListener accepts from the shared listening socket only when the
// model allows it:
//
//   - process and thread: only when a lane (the process, or one of its
//     threads) is free; the lane then holds the connection until it closes.
//     Otherwise the connection waits in the kernel's accept queue.
//   - reactor: one new connection per pass of the guest's loop (nginx with
//     multi_accept off), so a loop busy in guest code accepts nothing; past
//     worker_connections open connections, a new one is accepted and closed
//     at once, as nginx does.
type gatedListener struct {
	net.Listener
	w         *worker
	free      chan *lane
	closed    chan struct{}
	closeOnce sync.Once
	lastPass  uint64
	count     int
	mu        sync.Mutex
	nopen     int
}

func (w *worker) gate(inner net.Listener) net.Listener {
	g := &gatedListener{Listener: inner, w: w, free: make(chan *lane, len(w.lanes)), closed: make(chan struct{})}
	for _, l := range w.lanes {
		g.free <- l
	}
	return g
}

func (g *gatedListener) Accept() (net.Conn, error) {
	w := g.w
	if max := w.spec.MaxConnectionsPerChild; max > 0 && g.count >= max {
		// Quota reached: accept nothing more, and retire once the
		// connections already accepted are done (as Apache's child does).
		w.retireWhenQuiet()
		<-g.closed
		return nil, net.ErrClosed
	}
	if w.spec.Model == Reactor {
		loop := w.lanes[0].inst.Loop()
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
			if w.stopping() {
				return g.closedAccept()
			}
			c, err := g.Listener.Accept()
			if err != nil {
				return nil, err
			}
			g.mu.Lock()
			full := w.spec.Connections > 0 && g.nopen >= w.spec.Connections
			if !full {
				g.nopen++
			}
			g.mu.Unlock()
			if full {
				c.Close() // worker_connections exhausted
				continue
			}
			g.count++
			return g.wrap(c, w.lanes[0], func() {
				g.mu.Lock()
				g.nopen--
				g.mu.Unlock()
			}), nil
		}
	}
	var l *lane
	select {
	case l = <-g.free:
	case <-g.closed:
		return nil, net.ErrClosed
	}
	if w.stopping() {
		// The lane came back from the request that crashed it: take no
		// connection that the exit would drop.
		return g.closedAccept()
	}
	c, err := g.Listener.Accept()
	if err != nil {
		g.free <- l
		return nil, err
	}
	g.count++
	w.setState(l, StateReading)
	return g.wrap(c, l, func() {
		w.setState(l, StateIdle)
		g.free <- l
	}), nil
}

// closedAccept waits for the listener to close (a dying worker closes it)
// and reports it closed.
func (g *gatedListener) closedAccept() (net.Conn, error) {
	<-g.closed
	return nil, net.ErrClosed
}

// Close stops accepting: it wakes an Accept that waits for a lane, a loop
// pass or the end of the connection quota.
func (g *gatedListener) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

func (g *gatedListener) wrap(c net.Conn, l *lane, release func()) net.Conn {
	id := g.w.conns.Add(1)
	if g.w.spec.Trace {
		g.w.emit(Event{Kind: EventConn, Lane: l.index, Conn: id})
	}
	return &gatedConn{Conn: c, cs: &connState{id: id, lane: l}, release: release}
}

// gatedConn gives its lane back when it closes.
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

type connState struct {
	id       uint64
	lane     *lane
	requests int
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*gatedConn); ok {
		return context.WithValue(ctx, connKey{}, gc.cs)
	}
	return context.WithValue(ctx, connKey{}, &connState{})
}

// connState follows net/http's view of every connection: it keeps the
// scoreboard (reading a request, or waiting for the next one on a
// keep-alive connection) and counts connections that are not idle.
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
	if !ok || w.spec.Model == Reactor {
		return
	}
	switch s {
	case http.StateActive:
		w.setState(gc.cs.lane, StateReading)
	case http.StateIdle:
		w.setState(gc.cs.lane, StateKeepAlive)
	}
}

// retireWhenQuiet retires the worker, once, as soon as none of its
// connections is new or serving a request (idle keep-alive connections are
// closed by the shutdown).
func (w *worker) retireWhenQuiet() {
	w.quietOnce.Do(func() {
		go func() {
			for {
				w.connMu.Lock()
				n := len(w.busyConns)
				w.connMu.Unlock()
				if n == 0 {
					w.retire("served its connection quota (--max-connections-per-child)")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	})
}

// onSignal retires the worker when the supervisor asks it to stop.
func (w *worker) onSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	w.retire("stopped by the supervisor")
}

// listen opens a TCP listening socket with an explicit backlog (Go's
// net.Listen always uses the system maximum), so that --backlog is the
// real kernel accept queue.
func listen(addr string, backlog int) (*os.File, *net.TCPAddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("address %q: %w", addr, err)
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s := &syscall.SockaddrInet4{Port: ta.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		sa = s
	}
	syscall.ForkLock.RLock() // no fork between socket and close-on-exec
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd) // workers get it explicitly, as ExtraFiles
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	fail := func(op string, err error) (*os.File, *net.TCPAddr, error) {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("%s %s: %w", op, addr, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("listen on", err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return fail("listen on", err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	bound := &net.TCPAddr{}
	switch s := got.(type) {
	case *syscall.SockaddrInet4:
		bound.IP, bound.Port = net.IP(s.Addr[:]).To16(), s.Port
	case *syscall.SockaddrInet6:
		bound.IP, bound.Port = net.IP(s.Addr[:]), s.Port
	}
	return os.NewFile(uintptr(fd), "listener "+bound.String()), bound, nil
}

// acceptQueueDepth reads the listening socket's accept queue length (what
// `ss -lt` shows as Recv-Q) from /proc/net/tcp{,6}.
func acceptQueueDepth(f *os.File) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	inode := strconv.FormatUint(st.Ino, 10)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		pf, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(pf)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[9] != inode || fields[3] != "0A" {
				continue
			}
			_, rx, _ := strings.Cut(fields[4], ":")
			n, err := strconv.ParseUint(rx, 16, 32)
			pf.Close()
			return int(n), err
		}
		pf.Close()
	}
	return 0, errors.New("listening socket not found in /proc/net/tcp")
}
