package validate

import "syscall"

// raiseNoFile raises this process's RLIMIT_NOFILE so that it can hold
// want connections beside fdMargin other files (above the hard limit if
// it is allowed to), and returns how many connections it can hold, at
// most want, and the limit.
func raiseNoFile(want int) (int, uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want, 0
	}
	need := uint64(want + fdMargin)
	if lim.Cur < need {
		raised := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		} else if lim.Cur < lim.Max {
			raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
				lim = raised
			}
		}
	}
	if lim.Cur >= need {
		return want, lim.Cur
	}
	return max(0, int(lim.Cur)-fdMargin), lim.Cur
}
