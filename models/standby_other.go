//go:build !linux

package models

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// standbySocketpair is a standby worker's socket and the pool's end of it,
// both closed on exec.
func standbySocketpair() ([2]int, error) {
	// No fork may come between the socket and its flag (as os/exec's
	// own pipes are made).
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	return fds, err
}

// recvmsgFlags: no MSG_CMSG_CLOEXEC here; a worker starts no programs.
const recvmsgFlags = 0
