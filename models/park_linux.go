package models

import (
	"os"
	"syscall"
)

// epoller is the parker's poller on Linux: an epoll set of its own,
// itself waited on through Go's network poller (an epoll file descriptor
// is readable while it has events ready), so that no thread blocks in
// epoll_wait and closing it wakes the wait.
type epoller struct {
	f      *os.File
	rc     syscall.RawConn
	events []syscall.EpollEvent
}

func newPoller() (poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "mpmlab-parker")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &epoller{f: f, rc: rc, events: make([]syscall.EpollEvent, 128)}, nil
}

// add watches fd once: the first read, hang-up or error disarms it
// (EPOLLONESHOT), and the parker removes it.
func (e *epoller) add(fd int32, gen uint32) error {
	// The event's data is Fd and Pad: the socket and its park's gen.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: fd, Pad: int32(gen)}
	var err error
	if cerr := e.rc.Control(func(ep uintptr) { err = syscall.EpollCtl(int(ep), syscall.EPOLL_CTL_ADD, int(fd), &ev) }); cerr != nil {
		return cerr
	}
	return os.NewSyscallError("epoll_ctl", err)
}

func (e *epoller) remove(fd int32) {
	e.rc.Control(func(ep uintptr) { syscall.EpollCtl(int(ep), syscall.EPOLL_CTL_DEL, int(fd), nil) })
}

func (e *epoller) wait(ready func(fd int32, gen uint32)) error {
	for {
		var n int
		var werr error
		err := e.rc.Read(func(ep uintptr) bool {
			n, werr = syscall.EpollWait(int(ep), e.events, 0)
			return n > 0 || (werr != nil && werr != syscall.EINTR)
		})
		if err != nil {
			return err // closed
		}
		if werr != nil {
			return os.NewSyscallError("epoll_wait", werr)
		}
		for _, ev := range e.events[:n] {
			ready(ev.Fd, uint32(ev.Pad))
		}
	}
}

func (e *epoller) close() error { return e.f.Close() }
