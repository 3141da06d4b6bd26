package models

import "syscall"

// workerProcAttr puts a worker in its own process group (Ctrl-C reaches the
// supervisor only; it stops the workers) and has the kernel kill it if the
// supervisor dies.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
