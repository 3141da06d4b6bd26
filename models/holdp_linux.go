package models

import (
	goruntime "runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// pHolder keeps a worker's second P occupied while its requests are being
// served, so that the Go scheduler does not wake threads to look for work
// that the first P is about to run.
//
// A prefork child and an nginx worker are one thread doing the work, and
// the process and reactor models work that way in effect: one guest, which
// runs on one thread at a time, and net/http taking turns with it. Their
// workers keep two Ps all the same, because a guest spinning in its
// machine code holds its P and nothing can preempt it: the second P is how
// the worker's timers still run and the runaway gets its 504 ("How a
// runaway request is stopped" in RATIONALE.md). While requests flow, that idle P costs: each goroutine the
// runtime makes runnable (the request handed to the guest, its response
// handed back) wakes a thread to look for work on it (wakep), which finds
// none and sleeps again: about four context switches a request in a
// prefork process, two with the holder.
//
// The holder is a goroutine that waits in ppoll through a raw system call,
// which keeps its P (entersyscall is what gives a P back), so the
// scheduler sees no idle P and wakes no thread. It lets the P go:
//
//   - for a moment, through the scheduler (Gosched), every holdFor and at
//     any signal: the runtime asks a P to stop, for a collection's
//     stop-the-world or a long-running goroutine, with SIGURG (a stop asks
//     again every 100 µs until it has every P), and ppoll is never
//     restarted after a signal. Goroutines queued on the P and its timers
//     run then;
//   - until a request finishes again, when none has for holdFor: the
//     worker is idle, its requests take long, or its guest has run away
//     with the other P. Then the runtime has the P to run the watchdog's
//     timer that cuts the runaway off, and an idle worker's system monitor
//     sleeps (TestIdleCPU).
type pHolder struct {
	served atomic.Uint64 // requests finished
	parked atomic.Bool   // let the P go until the next one finishes
	wake   chan struct{}
}

// holdFor is the longest the holder keeps the P without going through the
// scheduler: under sysmon's 10 ms, after which it would be preempted (a
// signal) anyway.
const holdFor = 5 * time.Millisecond

// startPHolder starts a worker's holder.
func startPHolder() *pHolder {
	h := &pHolder{wake: make(chan struct{}, 1)}
	go h.run()
	return h
}

// finished counts a request served, and takes the P back if the holder let
// it go. A nil holder does nothing.
func (h *pHolder) finished() {
	if h == nil {
		return
	}
	h.served.Add(1)
	if h.parked.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// run holds the P, and lets it go, as the type's doc says.
func (h *pHolder) run() {
	last := h.served.Load()
	for {
		ts := syscall.NsecToTimespec(int64(holdFor))
		syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if n := h.served.Load(); n == last {
			h.parked.Store(true)
			if h.served.Load() == n {
				<-h.wake
			}
			h.parked.Store(false)
		} else {
			goruntime.Gosched()
		}
		last = h.served.Load()
	}
}
