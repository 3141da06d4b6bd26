package models

import "golang.org/x/sys/unix"

// standbySocketpair is a standby worker's socket and the pool's end of it,
// both closed on exec.
func standbySocketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
}

// recvmsgFlags has the descriptors of an adoption arrive closed on exec.
const recvmsgFlags = unix.MSG_CMSG_CLOEXEC
