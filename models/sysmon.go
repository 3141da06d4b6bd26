package models

import (
	"bytes"
	"io"
	"strings"
)

// A worker's Go runtime keeps its system monitor polling rather than
// sleeping deeply between requests (sysmonAwake).
//
// sysmon is the runtime's thread that takes Ps back from system calls and
// preempts goroutines that run too long. When every P is idle it sleeps until
// a system call wakes it, and a wake by a system call restarts its polling at
// 20 µs, doubling only after 1 ms with nothing to do. A prefork process idles
// between its requests, so each request woke it, and it then slept 20 µs at
// a time, a context switch each, for as long as the request ran: 15% of a
// prefork process's CPU under `wrk -c8` (perf). With GODEBUG's schedtrace
// set, the runtime never lets sysmon sleep deeply (it must print the trace on
// time), so under load it settles at its slowest poll, every 10 ms, as it
// does in a process that is never idle. The price is that poll in an idle
// worker, 100 wake-ups a second.
//
// The trace is printed when schedtrace milliseconds have passed since the
// machine's monotonic clock began (at boot), so at most once every 24.8
// days, schedtrace's largest value: a worker started on a machine up for
// longer prints one line at once, which the supervisor drops
// (dropSchedTrace).
const sysmonAwake = "schedtrace=2147483647"

// workerEnv is the environment of a worker process: environ (the
// supervisor's), with sysmonAwake added to GODEBUG unless it sets
// schedtrace itself, and the extra variables.
func workerEnv(environ []string, extra ...string) []string {
	env := append([]string(nil), environ...)
	debug := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			debug = v // the last one is the one a process sees
		}
	}
	if !strings.Contains(debug, "schedtrace=") {
		if debug != "" {
			debug += ","
		}
		env = append(env, "GODEBUG="+debug+sysmonAwake)
	}
	return append(env, extra...)
}

// dropSchedTrace writes a worker's stderr to w without the scheduler
// trace lines sysmonAwake may make its runtime print ("SCHED 123ms:
// gomaxprocs=..."). Every other line passes at once, whole or in part as it
// comes; only a line that may still turn out to be a trace line is held
// until it ends.
type dropSchedTrace struct {
	w    io.Writer
	held []byte // the start of a line that may be a trace line
	mid  bool   // a line not held is being passed through
}

func (f *dropSchedTrace) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		end := bytes.IndexByte(p, '\n') + 1 // 0: the line goes on
		part := p
		if end > 0 {
			part = p[:end]
		}
		p = p[len(part):]
		if f.mid {
			f.mid = end == 0
			if _, err := f.w.Write(part); err != nil {
				return n, err
			}
			continue
		}
		f.held = append(f.held, part...)
		trace, maybe := schedTraceLine(f.held)
		switch {
		case end == 0 && (trace || maybe):
			continue // held until the line ends
		case trace: // a whole trace line: dropped
		default:
			f.mid = end == 0
			if _, err := f.w.Write(f.held); err != nil {
				f.held = f.held[:0]
				return n, err
			}
		}
		f.held = f.held[:0]
	}
	return n, nil
}

// ReadFrom copies r through f with a small buffer (exec.Cmd's copy of a
// worker's stderr would take 32 KiB per worker).
func (f *dropSchedTrace) ReadFrom(r io.Reader) (int64, error) {
	var buf [512]byte
	var total int64
	for {
		n, err := r.Read(buf[:])
		total += int64(n)
		if _, werr := f.Write(buf[:n]); werr != nil {
			return total, werr
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// schedTraceLine reports whether line begins as a scheduler trace line
// does ("SCHED " digits "ms: gomaxprocs="), and whether it is too short to
// tell yet.
func schedTraceLine(line []byte) (is, maybe bool) {
	const head, tail = "SCHED ", "ms: gomaxprocs="
	// prefix reports whether line and s agree as far as both go, and how
	// much of line s used.
	prefix := func(line []byte, s string) (bool, int) {
		k := min(len(line), len(s))
		return string(line[:k]) == s[:k], k
	}
	ok, k := prefix(line, head)
	if !ok {
		return false, false
	}
	if k < len(head) {
		return false, true
	}
	rest := line[k:]
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits == len(rest) {
		return false, true
	}
	if digits == 0 {
		return false, false
	}
	ok, k = prefix(rest[digits:], tail)
	switch {
	case !ok:
		return false, false
	case k < len(tail):
		return false, true
	}
	return true, false
}
