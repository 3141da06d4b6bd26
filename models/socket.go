package models

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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

// errNotPending is a backlog's tryAccept finding no connection pending.
var errNotPending = errors.New("no connection pending")

// socketBacklog is a listening socket polled as Apache event's listener
// polls it: for a pending connection, left in the backlog (so that another
// process may take it while this one is over its limit), then taken
// without waiting long, as another process may have been faster.
//
// # Notes
//
// It polls a duplicate of the listener's descriptor (a listener's
// syscall.RawConn cannot wait), through the runtime's poller; Close closes
// the duplicate and ends a waitPending. tryAccept is the listener's own
// Accept under a deadline of lostRaceWait.
type socketBacklog struct {
	ln  *net.TCPListener
	f   *os.File
	rc  syscall.RawConn
	err error // why there is no descriptor to poll
}

// lostRaceWait bounds tryAccept's wait when another process took the
// connection that was pending. The thread reserved for it stays reserved
// after, as Apache's listener keeps it for its next connection, request or
// close (eventGate.reserved).
const lostRaceWait = time.Millisecond

func newSocketBacklog(ln net.Listener) *socketBacklog {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return &socketBacklog{err: fmt.Errorf("listener %v is not TCP", ln.Addr())}
	}
	f, err := tl.File()
	if err != nil {
		return &socketBacklog{err: err}
	}
	rc, err := f.SyscallConn()
	return &socketBacklog{ln: tl, f: f, rc: rc, err: err}
}

// waitPending returns once a connection is pending, or the backlog closed.
func (b *socketBacklog) waitPending() error {
	if b.err != nil {
		return b.err
	}
	return b.rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if err != unix.EINTR {
				// false: the runtime's poller waits for the socket to be
				// readable, and asks again.
				return err == nil && n > 0
			}
		}
	})
}

// tryAccept takes a pending connection, or returns errNotPending.
func (b *socketBacklog) tryAccept() (net.Conn, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.ln.SetDeadline(time.Now().Add(lostRaceWait))
	c, err := b.ln.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, errNotPending
	}
	return c, err
}

// Close closes the duplicate descriptor.
func (b *socketBacklog) Close() error {
	if b.f == nil {
		return nil
	}
	return b.f.Close()
}
