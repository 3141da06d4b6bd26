package models

import (
	"container/list"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// deadman is a lane's last-resort guard against a runaway guest: a POSIX
// timer (timer_create) that sends SIGKILL to the worker process when the
// lane's oldest request in flight passes its deadline.
//
// The worker's own --timeout handling (a Go timer that answers 504 and
// exits) normally acts first. It cannot when the process is frozen: a guest
// spinning in compiled wasm cannot be preempted, so a garbage collection
// that needs to stop the world waits for it forever, and every goroutine of
// the worker waits too. The kernel's timer needs no goroutine.
type deadman struct {
	// due is where the deadline the timer is armed for is published (Unix
	// ns, 0: disarmed): the lane's word on the scoreboard, so that the
	// supervisor can tell the guard's SIGKILL from anyone else's.
	due *atomic.Int64

	mu    sync.Mutex
	id    uintptr // timer_t
	ok    bool
	order list.List // start times of requests in flight, oldest first
	grace time.Duration
	limit time.Duration
}

// sigevent as the Linux kernel lays it out (64 bytes).
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	_      [48]byte
}

const sigevSignal = 0

// newDeadman makes a lane's guard, publishing its deadline in due. With
// no limit it guards nothing; a kernel that refuses the timer is an error
// (the worker then runs without its backstop, and says so).
func newDeadman(limit, grace time.Duration, due *atomic.Int64) (*deadman, error) {
	d := &deadman{limit: limit, grace: grace, due: due}
	if limit <= 0 {
		return d, nil
	}
	ev := sigevent{signo: int32(syscall.SIGKILL), notify: sigevSignal}
	var id int32
	_, _, errno := syscall.Syscall(syscall.SYS_TIMER_CREATE, uintptr(1 /* CLOCK_MONOTONIC */), uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&id)))
	d.id, d.ok = uintptr(id), errno == 0
	if errno != 0 {
		return d, fmt.Errorf("timer_create: %w", errno)
	}
	return d, nil
}

// start records a request starting now; call the returned func when it ends.
func (d *deadman) start() (end func()) {
	if !d.ok {
		return func() {}
	}
	now := time.Now()
	d.mu.Lock()
	e := d.order.PushBack(now)
	if d.order.Len() == 1 {
		d.arm(now)
	}
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		wasOldest := d.order.Front() == e
		d.order.Remove(e)
		switch {
		case d.order.Len() == 0:
			d.set(0)
		case wasOldest:
			d.arm(d.order.Front().Value.(time.Time))
		}
		d.mu.Unlock()
	}
}

func (d *deadman) arm(start time.Time) {
	d.set(max(time.Until(start.Add(d.limit+d.grace)), time.Millisecond))
}

// set arms the timer to fire after in (0 disarms it).
func (d *deadman) set(in time.Duration) {
	if in == 0 {
		d.due.Store(0)
	} else {
		d.due.Store(time.Now().Add(in).UnixNano())
	}
	var spec [4]int64 // itimerspec: interval {sec, nsec}, value {sec, nsec}
	spec[2], spec[3] = int64(in/time.Second), int64(in%time.Second)
	syscall.RawSyscall6(syscall.SYS_TIMER_SETTIME, d.id, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}
