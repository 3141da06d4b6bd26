//go:build !linux

package models

import "syscall"

// workerProcAttr puts a worker in its own process group (Ctrl-C reaches the
// supervisor only; it stops the workers). Without Linux's
// PR_SET_PDEATHSIG, a worker notices a dead supervisor when its event pipe
// breaks.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
