package models

import (
	"io"
	"net"
	"os"
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
	return &rawSocket{c: c, raw: raw}
}

// Read is net.Conn's Read.
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := s.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write is net.Conn's Write: all of p, or an error.
func (s *rawSocket) Write(p []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	err := s.raw.Write(func(fd uintptr) bool {
		for written < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
			switch e {
			case 0:
				written += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket is writable
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return written, s.opError("write", err)
	case errno != 0:
		return written, s.opError("write", os.NewSyscallError("write", errno))
	}
	return written, nil
}

// opError is err as net.Conn's methods report it: a *net.OpError of op,
// with what the raw connection's own error wraps.
func (s *rawSocket) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: s.c.LocalAddr().Network(), Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
