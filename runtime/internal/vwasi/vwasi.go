// Package vwasi is the virtual WASI that turns a long-lived Go guest into a
// server fed by the host.
//
// A guest instance sees three extra file descriptors: abi.RequestFD, from
// which it reads request frames, abi.ResponseFD, to which it writes response
// frames, and abi.WakeFD, from which it reads wake-ups (abi.Wake records:
// a guest.Pool task done, a guest.Yield's turn). The Go runtime inside the
// guest parks goroutines reading the request and wake fds in its netpoller,
// which ends in poll_oneoff; this package implements that wait on the host,
// so an idle guest costs no CPU and a busy guest is woken the moment a
// request or a wake-up arrives.
//
// Export fills a "wasi_snapshot_preview1" host module: wazero's own WASI
// functions for everything (clocks, random, args, environ, proc_exit...),
// then our versions of the functions that touch file descriptors:
// fd_read, fd_write, fd_fdstat_get, fd_fdstat_set_flags, fd_close and
// poll_oneoff. A later Export of the same name on the builder replaces the
// earlier one. fds 0-2 are stdin (always empty), stdout and stderr
// (captured), 3 to 5 are virtual.
//
// The guest has a file system of its own, in memory, when the host gives it
// one (Conn.SetFS; fs.go, fswasi.go): the experiment's files, read-only, at
// the root "/", which is the one preopen (fd 6, PreopenFD) and the working
// directory, and a writable /tmp capped in bytes. Those functions (path_open,
// fd_readdir, fd_seek, fd_filestat_get, path_filestat_get...) are this
// package's too, so nothing of the host's file system is reachable: wazero
// is given no mount. A write outside /tmp fails with EROFS, a write past the
// cap with ENOSPC. There are no sockets (wazero's sock_* answer EBADF or
// ENOTSUP) and no processes.
//
// Each instance's state is a Conn, found through the context the guest's
// _start is called with (WithConn).
//
// # Notes
//
//   - Facts the Go wasip1 runtime relies on: os.NewFile registers an fd with
//     the netpoller only if fd_fdstat_get reports FDFLAGS_NONBLOCK; an empty
//     read must return EAGAIN; poll_oneoff must echo each subscription's
//     userdata; with no timer pending the guest sends no clock subscription,
//     so the wait has no timeout; any errno but 0 or EINTR kills the guest.
//   - Every call into poll_oneoff ends one pass of the guest's loop. Conn
//     counts passes and idle time: the reactor uses them to accept at most
//     one connection per pass and to report loop utilisation. With a
//     timeline (SetTimeline) it also reports each wait's start and end, so
//     the time between is attributed to the requests that ran.
//   - A wake-up posted with WakeNextPass becomes readable only when the
//     guest next enters poll_oneoff: that is how guest.Yield makes sure its
//     loop polls for I/O before the caller goes on (see RATIONALE.md).
package vwasi

import (
	"context"
	"encoding/binary"
	"io"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/runtime/internal/timeline"
	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// WASI errno values used here.
const (
	errnoSuccess = 0
	errnoAgain   = 6
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
)

// WASI constants.
const (
	filetypeCharacterDevice = 2
	fdflagNonblock          = 0x4
	eventClock              = 0
	eventFdRead             = 1
	eventFdWrite            = 2
	subclockAbstime         = 0x1
	subscriptionSize        = 48
	eventSize               = 32
)

// Conn is one guest instance's end of the virtual file descriptors.
//
// The host side calls Push to deliver request frames and receives response
// frames through the callback given to NewConn. A Conn is safe for
// concurrent use by the host; the guest side (the WASI functions) runs on
// the single goroutine that called the guest's _start.
type Conn struct {
	onFrame func(frame []byte)
	stdout  io.Writer
	stderr  io.Writer

	mu     sync.Mutex
	in     []byte // request bytes not yet read by the guest
	inOff  int
	closed bool // no more requests: reads return EOF once in is drained

	wake  chan struct{} // poked when in grows or the Conn is closed
	abort chan struct{} // closed by Abort: the guest is stopped at its next wait
	once  sync.Once

	out []byte // response bytes not yet forming a whole frame

	// wakes are the abi.Wake records the guest has not read (under mu);
	// nextPass those that become readable at its next poll_oneoff, which
	// only looks (takes mu) when hasNextPass says there are some.
	wakes       []byte
	nextPass    []byte
	hasNextPass atomic.Bool

	// tl, if set, is told of every wait: passes for the loop's timeline.
	tl *timeline.Timeline

	// files is the guest's file system (SetFS; fs.go), nil for none.
	files *files

	reading     chan struct{} // closed when the guest first reads the request fd
	readingOnce sync.Once

	passes atomic.Uint64
	inPoll atomic.Bool
	read   atomic.Uint64 // request bytes the guest has read
	idle   atomic.Int64  // nanoseconds spent waiting in poll_oneoff
	passCh chan struct{}

	// threadLocked: the guest's goroutine is locked to its OS thread
	// except while it waits (SetThreadLocked).
	threadLocked bool

	// timer is poll_oneoff's timer for clock subscriptions, reused from
	// one wait to the next (guest goroutine only).
	timer *time.Timer

	// lastWait is how long the guest's last wait for a request lasted
	// (guest goroutine only): pollOneoff spins before parking only while
	// requests come that soon.
	lastWait time.Duration

	// reclaim gives memory back while the guest waits (SetReclaim); the
	// rest is its schedule (guest goroutine only).
	reclaim       func()
	reclaimEvery  time.Duration
	reclaimedAt   time.Time
	reclaimedPass uint64
	reclaimTimer  *time.Timer
}

// NewConn returns a Conn that hands every whole response frame the guest
// writes to onFrame (on the guest's goroutine; onFrame must not keep the
// slice) and copies the guest's stdout and stderr to the given writers.
func NewConn(onFrame func(frame []byte), stdout, stderr io.Writer) *Conn {
	return &Conn{
		onFrame: onFrame,
		stdout:  stdout,
		stderr:  stderr,
		wake:    make(chan struct{}, 1),
		abort:   make(chan struct{}),
		passCh:  make(chan struct{}, 1),
		reading: make(chan struct{}),
	}
}

// SetReclaim makes the guest's waits in poll_oneoff run reclaim, which
// gives memory the guest no longer uses back to the kernel: on the guest's
// goroutine, so none of the guest's code runs meanwhile; only if the guest
// has run since the last time; and at most once every every. A wait that
// begins before then runs it when the time comes, if the guest still
// waits, so a guest left idle has given its memory back within every. Call
// it before the guest starts.
func (c *Conn) SetReclaim(every time.Duration, reclaim func()) {
	c.reclaim, c.reclaimEvery = reclaim, every
}

// reclaimDue runs reclaim if it is due, and otherwise returns when it will
// be (nil if it will not be during this wait).
func (c *Conn) reclaimDue() <-chan time.Time {
	pass := c.passes.Load()
	if c.reclaim == nil || pass == c.reclaimedPass {
		return nil
	}
	wait := c.reclaimEvery - time.Since(c.reclaimedAt)
	if wait <= 0 {
		c.reclaim()
		c.reclaimedAt, c.reclaimedPass = time.Now(), pass
		return nil
	}
	if c.reclaimTimer == nil {
		c.reclaimTimer = time.NewTimer(wait)
	} else {
		c.reclaimTimer.Reset(wait)
	}
	return c.reclaimTimer.C
}

// SetThreadLocked says the guest runs locked to an OS thread of its own
// (runtime.LockOSThread, the thread model's threads): its waits in
// poll_oneoff let the thread go, and it locks itself to the thread it
// wakes on, the one that handed it a request, with no second thread to
// wake. Call it before the guest starts.
func (c *Conn) SetThreadLocked(locked bool) { c.threadLocked = locked }

// SetTimeline makes c report every wait in poll_oneoff to tl (PollEnter,
// PollExit), from the guest's goroutine. Call it before the guest starts.
func (c *Conn) SetTimeline(tl *timeline.Timeline) { c.tl = tl }

// Push queues one or more whole request frames for the guest.
func (c *Conn) Push(frames []byte) {
	c.mu.Lock()
	switch {
	case c.inOff == len(c.in) && cap(c.in) > maxIdleBuffer:
		c.in, c.inOff = nil, 0 // a burst is over: give its memory back
	case c.inOff == len(c.in):
		c.in, c.inOff = c.in[:0], 0
	case c.inOff >= len(c.in)/2:
		// The guest lags: drop what it has read before growing.
		n := copy(c.in, c.in[c.inOff:])
		c.in, c.inOff = c.in[:n], 0
	}
	c.in = append(c.in, frames...)
	c.mu.Unlock()
	c.poke()
}

// Wake makes w readable on abi.WakeFD and wakes the guest if it waits.
func (c *Conn) Wake(w abi.Wake) {
	c.mu.Lock()
	c.wakes = abi.AppendWake(c.wakes, w)
	c.mu.Unlock()
	c.poke()
}

// WakeNextPass makes w readable on abi.WakeFD once the guest next enters
// poll_oneoff, so that the guest's loop polls (reads the requests that came
// meanwhile) before the goroutine waiting for w goes on. It is called from
// the guest's own host calls, so the guest is running, not waiting.
func (c *Conn) WakeNextPass(w abi.Wake) {
	c.mu.Lock()
	c.nextPass = abi.AppendWake(c.nextPass, w)
	c.hasNextPass.Store(true)
	c.mu.Unlock()
}

// CloseInput ends the request stream: once the guest has read what is
// queued, its reads return EOF and guest.Serve returns.
func (c *Conn) CloseInput() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.poke()
}

// Abort stops the guest the next time it waits in poll_oneoff, with exit
// code 0. A guest that never waits (a runaway loop) is not stopped by this:
// the supervisor kills its process instead.
func (c *Conn) Abort() { c.once.Do(func() { close(c.abort) }) }

// Passes is the number of times the guest has entered poll_oneoff: passes of
// its loop.
func (c *Conn) Passes() uint64 { return c.passes.Load() }

// InPoll reports whether the guest is inside poll_oneoff now, that is, its
// loop is waiting for events rather than running guest code.
func (c *Conn) InPoll() bool { return c.inPoll.Load() }

// ReadBytes is the number of request bytes the guest has read so far: it
// grows once the guest's thread has woken up to a request pushed to it.
func (c *Conn) ReadBytes() uint64 { return c.read.Load() }

// PassSignal receives a value after each new pass of the loop (coalesced).
func (c *Conn) PassSignal() <-chan struct{} { return c.passCh }

// Reading is closed when the guest first reads the request fd: its main has
// reached guest.Serve, and its start-up (the Go runtime's and every
// package's init, main up to Serve) is over.
func (c *Conn) Reading() <-chan struct{} { return c.reading }

// IdleTime is the total time the guest has spent waiting in poll_oneoff.
func (c *Conn) IdleTime() time.Duration { return time.Duration(c.idle.Load()) }

func (c *Conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

type connKey struct{}

// WithConn returns a context that binds c to the guest started with it.
func WithConn(ctx context.Context, c *Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connOf(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// Export fills b (a host module named "wasi_snapshot_preview1") with
// wazero's WASI functions, replacing the ones that touch fds with the
// virtual versions of this package.
func Export(b wazero.HostModuleBuilder) {
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	export := func(name string, fn api.GoModuleFunc, params []api.ValueType, paramNames ...string) {
		b.NewFunctionBuilder().
			WithGoModuleFunction(fn, params, []api.ValueType{i32}).
			WithParameterNames(paramNames...).
			WithResultNames("errno").
			Export(name)
	}
	export("fd_read", fdRead, []api.ValueType{i32, i32, i32, i32}, "fd", "iovs", "iovs_len", "result.nread")
	export("fd_write", fdWrite, []api.ValueType{i32, i32, i32, i32}, "fd", "iovs", "iovs_len", "result.nwritten")
	export("fd_fdstat_get", fdFdstatGet, []api.ValueType{i32, i32}, "fd", "result.stat")
	export("fd_fdstat_set_flags", fdFdstatSetFlags, []api.ValueType{i32, i32}, "fd", "flags")
	export("fd_close", fdClose, []api.ValueType{i32}, "fd")
	export("poll_oneoff", pollOneoff, []api.ValueType{i32, i32, i32, i32}, "in", "out", "nsubscriptions", "result.nevents")
	exportFS(b)
}

func isOurs(fd uint32) bool { return fd <= abi.WakeFD }

var fdRead = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, iovs, iovsLen, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	mem := mod.Memory()
	switch fd {
	case 0: // stdin: always at EOF
		stack[0] = errnoResult(mem.WriteUint32Le(resultN, 0))
		return
	case abi.RequestFD:
	case abi.WakeFD:
		stack[0] = connOf(ctx).readWakes(mem, iovs, iovsLen, resultN)
		return
	default:
		stack[0] = filesOf(ctx).fdRead(mem, fd, iovs, iovsLen, resultN)
		return
	}
	c := connOf(ctx)
	c.readingOnce.Do(func() { close(c.reading) })
	c.mu.Lock()
	avail := c.in[c.inOff:]
	if len(avail) == 0 {
		closed := c.closed
		c.mu.Unlock()
		if closed {
			stack[0] = errnoResult(mem.WriteUint32Le(resultN, 0))
		} else {
			stack[0] = errnoAgain
		}
		return
	}
	n := uint32(0)
	for i := uint32(0); i < iovsLen && len(avail) > 0; i++ {
		ptr, ok1 := mem.ReadUint32Le(iovs + i*8)
		l, ok2 := mem.ReadUint32Le(iovs + i*8 + 4)
		buf, ok3 := mem.Read(ptr, l)
		if !ok1 || !ok2 || !ok3 {
			c.mu.Unlock()
			stack[0] = errnoFault
			return
		}
		k := copy(buf, avail)
		avail = avail[k:]
		n += uint32(k)
	}
	c.inOff += int(n)
	c.read.Add(uint64(n))
	c.mu.Unlock()
	stack[0] = errnoResult(mem.WriteUint32Le(resultN, n))
})

// readWakes is fd_read of abi.WakeFD: as many whole records as fit, or
// EAGAIN when there are none.
func (c *Conn) readWakes(mem api.Memory, iovs, iovsLen, resultN uint32) uint64 {
	var bufs [][]byte
	space := 0
	for i := uint32(0); i < iovsLen; i++ {
		ptr, ok1 := mem.ReadUint32Le(iovs + i*8)
		l, ok2 := mem.ReadUint32Le(iovs + i*8 + 4)
		buf, ok3 := mem.Read(ptr, l)
		if !ok1 || !ok2 || !ok3 {
			return errnoFault
		}
		bufs = append(bufs, buf)
		space += len(buf)
	}
	c.mu.Lock()
	n := min(len(c.wakes), space/abi.WakeSize*abi.WakeSize)
	switch {
	case len(c.wakes) == 0:
		c.mu.Unlock()
		return errnoAgain
	case n == 0:
		c.mu.Unlock()
		return errnoInval // no room for one record
	}
	avail := c.wakes[:n]
	for _, buf := range bufs {
		avail = avail[copy(buf, avail):]
	}
	c.wakes = c.wakes[:copy(c.wakes, c.wakes[n:])]
	c.mu.Unlock()
	return errnoResult(mem.WriteUint32Le(resultN, uint32(n)))
}

var fdWrite = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, iovs, iovsLen, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	mem := mod.Memory()
	c := connOf(ctx)
	var w io.Writer
	switch fd {
	case 1:
		w = c.stdout
	case 2:
		w = c.stderr
	case abi.ResponseFD:
	default:
		stack[0] = c.files.fdWrite(mem, fd, iovs, iovsLen, resultN)
		return
	}
	n := uint32(0)
	for i := uint32(0); i < iovsLen; i++ {
		ptr, ok1 := mem.ReadUint32Le(iovs + i*8)
		l, ok2 := mem.ReadUint32Le(iovs + i*8 + 4)
		buf, ok3 := mem.Read(ptr, l)
		if !ok1 || !ok2 || !ok3 {
			stack[0] = errnoFault
			return
		}
		if w != nil {
			w.Write(buf)
		} else {
			c.out = append(c.out, buf...)
		}
		n += l
	}
	if w == nil {
		c.deliver()
	}
	stack[0] = errnoResult(mem.WriteUint32Le(resultN, n))
})

// deliver hands every whole frame in c.out to onFrame.
func (c *Conn) deliver() {
	rest := c.out
	for {
		frame, r, ok, err := abi.Split(rest)
		if err != nil {
			panic(sys.NewExitError(3)) // a corrupt stream: the guest cannot go on
		}
		if !ok {
			break
		}
		c.onFrame(frame)
		rest = r
	}
	c.out = append(c.out[:0], rest...)
}

var fdFdstatGet = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, result := uint32(stack[0]), uint32(stack[1])
	if !isOurs(fd) {
		stack[0] = filesOf(ctx).fdstat(mod.Memory(), fd, result)
		return
	}
	var stat [24]byte // filetype u8 @0, fdflags u16 @2, rights_base u64 @8, rights_inheriting u64 @16
	stat[0] = filetypeCharacterDevice
	if fd == abi.RequestFD || fd == abi.WakeFD {
		binary.LittleEndian.PutUint16(stat[2:], fdflagNonblock)
	}
	binary.LittleEndian.PutUint64(stat[8:], ^uint64(0))
	binary.LittleEndian.PutUint64(stat[16:], ^uint64(0))
	stack[0] = errnoResult(mod.Memory().Write(result, stat[:]))
})

var fdFdstatSetFlags = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	if !isOurs(uint32(stack[0])) {
		_, errno := filesOf(ctx).file(uint32(stack[0]))
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoSuccess
})

var fdClose = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	if !isOurs(uint32(stack[0])) {
		stack[0] = filesOf(ctx).close(uint32(stack[0]))
		return
	}
	stack[0] = errnoSuccess
})

type sub struct {
	userdata uint64
	kind     byte
	fd       uint32
	deadline time.Time // clock subscriptions
}

// pollOneoff waits until a subscribed event is ready: the request fd has
// bytes (or is closed), the wake fd has a record, a clock subscription's
// time has come, or any write subscription (writes never block). Each call
// is one pass of the loop.
var pollOneoff = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, nsubs, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	c := connOf(ctx)
	mem := mod.Memory()
	if nsubs == 0 {
		stack[0] = errnoInval
		return
	}
	inBuf, ok1 := mem.Read(in, nsubs*subscriptionSize)
	outBuf, ok2 := mem.Read(out, nsubs*eventSize)
	if !ok1 || !ok2 {
		stack[0] = errnoFault
		return
	}

	c.inPoll.Store(true)
	defer c.inPoll.Store(false)
	c.passes.Add(1)
	if c.hasNextPass.Load() {
		c.mu.Lock()
		c.wakes = append(c.wakes, c.nextPass...)
		c.nextPass = c.nextPass[:0]
		c.hasNextPass.Store(false)
		c.mu.Unlock()
	}
	if c.tl != nil {
		c.tl.PollEnter(time.Now().UnixNano())
	}
	select {
	case c.passCh <- struct{}{}:
	default:
	}

	var arr [8]sub
	subs := arr[:0]
	now := time.Now()
	var earliest time.Time
	for i := uint32(0); i < nsubs; i++ {
		s := inBuf[i*subscriptionSize:]
		x := sub{userdata: binary.LittleEndian.Uint64(s), kind: s[8]}
		switch x.kind {
		case eventClock:
			timeout := time.Duration(binary.LittleEndian.Uint64(s[24:]))
			if binary.LittleEndian.Uint16(s[40:])&subclockAbstime != 0 {
				// Absolute: Go's runtime never sends these; treat as realtime.
				timeout = time.Until(time.Unix(0, int64(timeout)))
			}
			x.deadline = now.Add(timeout)
			if earliest.IsZero() || x.deadline.Before(earliest) {
				earliest = x.deadline
			}
		case eventFdRead, eventFdWrite:
			x.fd = binary.LittleEndian.Uint32(s[16:])
		default:
			stack[0] = errnoInval
			return
		}
		subs = append(subs, x)
	}

	armed := false // c.timer runs for earliest
	spins := 0
	for {
		n := c.readyEvents(subs, outBuf, time.Now())
		if n > 0 {
			if armed {
				c.timer.Stop()
			}
			if c.tl != nil {
				c.tl.PollExit(time.Now().UnixNano())
			}
			stack[0] = errnoResult(mem.WriteUint32Le(resultN, n))
			return
		}
		if spins < maxSpins && c.lastWait < spinFor && (earliest.IsZero() || time.Until(earliest) > spinFor) {
			// Under load a request often follows the last one within
			// microseconds: look again briefly before parking, which
			// costs a wake-up. When requests come further apart (one
			// client, a prefork process's one connection) the spin would
			// only burn CPU, so it waits for them to come close again.
			spins++
			spinStart := time.Now()
			for time.Since(spinStart) < spinFor {
				if c.readable() {
					break
				}
				goruntime.Gosched()
			}
			c.lastWait = time.Since(spinStart)
			continue
		}
		var timeC <-chan time.Time
		if !earliest.IsZero() {
			if !armed {
				// One timer for every wait of the instance, reset: a
				// guest with a sleep or a timeout pending waits with a
				// clock subscription at nearly every pass. (Since Go
				// 1.23 a Reset timer delivers no value from before.)
				if c.timer == nil {
					c.timer = time.NewTimer(time.Until(earliest))
				} else {
					c.timer.Reset(time.Until(earliest))
				}
				armed = true
			}
			timeC = c.timer.C
		}
		reclaimC := c.reclaimDue()
		start := time.Now()
		if c.threadLocked {
			goruntime.UnlockOSThread()
		}
		select {
		case <-c.wake:
			c.lastWait = time.Since(start)
		case <-timeC:
			armed = false // fired: re-armed if the clock is somehow not due yet
		case <-reclaimC: // still waiting: runs now, in the loop's next round
		case <-c.abort:
			if armed {
				c.timer.Stop()
			}
			c.idle.Add(int64(time.Since(start)))
			_ = mod.CloseWithExitCode(ctx, 0)
			panic(sys.NewExitError(0))
		}
		if c.threadLocked {
			goruntime.LockOSThread()
		}
		c.idle.Add(int64(time.Since(start)))
	}
})

// maxIdleBuffer is the most request-buffer capacity a Conn keeps while
// the guest has nothing queued.
const maxIdleBuffer = 1 << 20

// Spinning before parking in poll_oneoff.
const (
	spinFor  = 50 * time.Microsecond
	maxSpins = 1
)

func (c *Conn) readable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.in) > c.inOff || c.closed || len(c.wakes) > 0
}

// readyEvents writes an event for every ready subscription and returns how
// many it wrote.
func (c *Conn) readyEvents(subs []sub, out []byte, now time.Time) uint32 {
	n := uint32(0)
	emit := func(s sub, nbytes uint64) {
		e := out[n*eventSize : (n+1)*eventSize]
		clear(e)
		binary.LittleEndian.PutUint64(e, s.userdata)
		e[10] = s.kind
		if s.kind != eventClock {
			binary.LittleEndian.PutUint64(e[16:], nbytes)
		}
		n++
	}
	for _, s := range subs {
		switch s.kind {
		case eventClock:
			if !now.Before(s.deadline) {
				emit(s, 0)
			}
		case eventFdWrite:
			emit(s, 0)
		case eventFdRead:
			if s.fd == abi.WakeFD {
				c.mu.Lock()
				avail := len(c.wakes)
				c.mu.Unlock()
				if avail > 0 {
					emit(s, uint64(avail))
				}
				continue
			}
			if s.fd != abi.RequestFD {
				emit(s, 0) // stdin and unknown fds: ready, the read will say EOF or EBADF
				continue
			}
			c.mu.Lock()
			avail, closed := len(c.in)-c.inOff, c.closed
			c.mu.Unlock()
			if avail > 0 || closed {
				emit(s, uint64(avail))
			}
		}
	}
	return n
}

func errnoResult(ok bool) uint64 {
	if ok {
		return errnoSuccess
	}
	return errnoFault
}
