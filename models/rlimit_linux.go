package models

import "syscall"

// RaiseNoFile raises this process's RLIMIT_NOFILE so that it can hold
// want connections beside margin other files (above the hard limit if it
// is allowed to, else up to the hard limit), and returns how many
// connections it can hold, at most want, and the limit. Processes it
// starts afterwards inherit the raised limit: a supervisor's workers hold
// their connections' server ends.
//
// # Notes
//
// Go raises the soft limit to the hard one at start on its own, but
// gives children the original soft limit back; a limit set by Setrlimit
// is inherited as set.
func RaiseNoFile(want, margin int) (int, uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want, 0
	}
	need := uint64(want + margin)
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
	} else {
		// Already enough for this process; set it all the same, so that
		// the processes it starts inherit it (see Notes).
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur >= need {
		return want, lim.Cur
	}
	return max(0, int(lim.Cur)-margin), lim.Cur
}
