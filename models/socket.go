package models

import (
	"fmt"
	"net"
	"os"
	"syscall"
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
