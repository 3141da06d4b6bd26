package models

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawSocket reads and writes a connection's socket as net.Conn does,
// through Go's poller and its deadlines, but with raw system calls: the
// runtime's syscall bookkeeping (entersyscall) wakes sysmon from its deep
// sleep, and a sysmon woken by a system call polls every 20 µs for a
// millisecond, which is most of a prefork process's time between requests.
// A read or write of a non-blocking socket never blocks, so it needs none
// of that bookkeeping (it is how the runtime's own poller calls the
// kernel). Only a prefork process reads and writes this way: a worker with
// threads or a loop is rarely idle under load and gained nothing
// measurable, and while both its Ps stay busy, the network poll a woken
// sysmon makes every 10 ms is how it learns of sockets that became ready.
// See RATIONALE.md, "What a request costs, and where it goes".
type rawSocket struct {
	c   net.Conn
	raw syscall.RawConn

	// A read's and a write's buffer and outcome, for the functions the
	// poller calls (readFn, writeFn: bound once, so that a call allocates
	// nothing, as net.Conn's does not); their mutexes keep concurrent
	// reads, or writes, apart.
	rmu     sync.Mutex
	rbuf    []byte
	rn      int
	rerrno  syscall.Errno
	readFn  func(fd uintptr) bool
	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

// newRawSocket is c's raw socket, or nil when c has none (not a socket of
// the kernel's).
func newRawSocket(c net.Conn) *rawSocket {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSocket{c: c, raw: raw}
	s.readFn, s.writeFn = s.readOnce, s.writeAll
	return s
}

// Read is net.Conn's Read.
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.raw.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
	s.rmu.Unlock()
	if err := s.callError("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readOnce reads once into rbuf; false if the socket has nothing yet.
func (s *rawSocket) readOnce(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		if e == syscall.EINTR {
			continue
		}
		s.rn, s.rerrno = int(r), e
		return e != syscall.EAGAIN
	}
}

// Write is net.Conn's Write: all of p, or an error.
func (s *rawSocket) Write(p []byte) (int, error) {
	s.wmu.Lock()
	s.wbuf, s.wn, s.werrno = p, 0, 0
	err := s.raw.Write(s.writeFn)
	written, errno := s.wn, s.werrno
	s.wbuf = nil
	s.wmu.Unlock()
	return written, s.callError("write", err, errno)
}

// callError is what a raw read or write (op) returns as its error, as
// net.Conn's would: the poller's (a deadline, a close), else the system
// call's, else nil.
func (s *rawSocket) callError(op string, err error, errno syscall.Errno) error {
	switch {
	case err != nil:
		return s.opError(op, err)
	case errno != 0:
		return s.opError(op, os.NewSyscallError(op, errno))
	}
	return nil
}

// writeAll writes what is left of wbuf; false when the socket is full.
func (s *rawSocket) writeAll(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until the socket is writable
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// opError is err as net.Conn's methods report it: a *net.OpError of op,
// with what the raw connection's own error wraps.
func (s *rawSocket) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: s.c.LocalAddr().Network(), Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
