package vwasi

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// The host functions are called directly, with a module that only exports
// one page of memory standing in for the guest.
var memOnlyWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
	0x07, 0x07, 0x01, 0x03, 'm', 'e', 'm', 0x02, 0x00, // export "mem" memory 0
}

// Guest memory layout used by the tests.
const (
	resultAddr = 0x80   // nread / nwritten / nevents / fdstat
	iovsAddr   = 0x100  // iovec array
	bufAddr    = 0x1000 // read / write buffers
	subsAddr   = 0x4000 // subscriptions
	eventsAddr = 0x8000 // events
	memSize    = 65536
)

// Generous bounds: the tests run on small, noisy machines.
const (
	waitLimit = 5 * time.Second
	quick     = time.Second // "at once"
)

type fixture struct {
	conn   *Conn
	mod    api.Module
	ctx    context.Context
	stdout *bytes.Buffer
	stderr *bytes.Buffer

	mu     sync.Mutex
	frames [][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	bg := context.Background()
	r := wazero.NewRuntime(bg)
	t.Cleanup(func() { r.Close(bg) })
	mod, err := r.InstantiateWithConfig(bg, memOnlyWasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	if mod.Memory() == nil || mod.Memory().Size() != memSize {
		t.Fatalf("module memory: %v", mod.Memory())
	}
	f := &fixture{mod: mod, stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
	f.conn = NewConn(func(frame []byte) {
		f.mu.Lock()
		f.frames = append(f.frames, bytes.Clone(frame))
		f.mu.Unlock()
	}, f.stdout, f.stderr)
	f.ctx = WithConn(bg, f.conn)
	// A failed test may leave a poll_oneoff blocked: let it go.
	t.Cleanup(f.conn.Abort)
	return f
}

func (f *fixture) gotFrames() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.frames...)
}

// call runs a host function with args and returns its errno.
func (f *fixture) call(fn api.GoModuleFunc, args ...uint64) uint32 {
	stack := make([]uint64, max(len(args), 1))
	copy(stack, args)
	fn(f.ctx, f.mod, stack)
	return uint32(stack[0])
}

func (f *fixture) write(t *testing.T, addr uint32, b []byte) {
	t.Helper()
	if !f.mod.Memory().Write(addr, b) {
		t.Fatalf("write %d bytes at %#x out of range", len(b), addr)
	}
}

func (f *fixture) read(t *testing.T, addr, n uint32) []byte {
	t.Helper()
	b, ok := f.mod.Memory().Read(addr, n)
	if !ok {
		t.Fatalf("read %d bytes at %#x out of range", n, addr)
	}
	return bytes.Clone(b)
}

func (f *fixture) u32(t *testing.T, addr uint32) uint32 {
	t.Helper()
	v, ok := f.mod.Memory().ReadUint32Le(addr)
	if !ok {
		t.Fatalf("read u32 at %#x out of range", addr)
	}
	return v
}

func (f *fixture) setU32(t *testing.T, addr, v uint32) {
	t.Helper()
	if !f.mod.Memory().WriteUint32Le(addr, v) {
		t.Fatalf("write u32 at %#x out of range", addr)
	}
}

type iovec struct{ ptr, len uint32 }

// setIovs writes an iovec array at iovsAddr.
func (f *fixture) setIovs(t *testing.T, iovs ...iovec) {
	t.Helper()
	for i, v := range iovs {
		f.setU32(t, iovsAddr+uint32(i)*8, v.ptr)
		f.setU32(t, iovsAddr+uint32(i)*8+4, v.len)
	}
}

// readFD calls fd_read on fd with iovecs of the given sizes, laid out one
// after the other from bufAddr with gaps, and returns the errno, nread and
// the bytes in each iovec (only the first nread in total are meaningful).
func (f *fixture) readFD(t *testing.T, fd uint32, sizes ...uint32) (errno, nread uint32, got []byte) {
	t.Helper()
	iovs := make([]iovec, len(sizes))
	p := uint32(bufAddr)
	for i, n := range sizes {
		iovs[i] = iovec{p, n}
		f.write(t, p, bytes.Repeat([]byte{0xEE}, int(n)))
		p += n + 16
	}
	f.setIovs(t, iovs...)
	f.setU32(t, resultAddr, 0xDEADBEEF)
	errno = f.call(fdRead, uint64(fd), iovsAddr, uint64(len(iovs)), resultAddr)
	nread = f.u32(t, resultAddr)
	if errno == errnoSuccess {
		left := nread
		for _, v := range iovs {
			k := min(left, v.len)
			got = append(got, f.read(t, v.ptr, k)...)
			left -= k
		}
	}
	return errno, nread, got
}

// writeFD calls fd_write on fd with data split into iovecs at the given
// cut points.
func (f *fixture) writeFD(t *testing.T, fd uint32, data []byte, cuts ...int) (errno, nwritten uint32) {
	t.Helper()
	bounds := append(append([]int{0}, cuts...), len(data))
	var iovs []iovec
	p := uint32(bufAddr)
	for i := 0; i+1 < len(bounds); i++ {
		part := data[bounds[i]:bounds[i+1]]
		f.write(t, p, part)
		iovs = append(iovs, iovec{p, uint32(len(part))})
		p += uint32(len(part)) + 16
	}
	f.setIovs(t, iovs...)
	f.setU32(t, resultAddr, 0xDEADBEEF)
	errno = f.call(fdWrite, uint64(fd), iovsAddr, uint64(len(iovs)), resultAddr)
	return errno, f.u32(t, resultAddr)
}

func requestFrame(id uint32, body string) []byte {
	return abi.AppendRequest(nil, &abi.Request{
		ID: id, Method: "GET", URI: "/x?id=1", Host: "example.test",
		Header: http.Header{"A": {"b"}}, Body: []byte(body),
	})
}

func responseFrame(id uint32, status int, body string) []byte {
	return abi.AppendResponse(nil, &abi.Response{
		ID: id, Status: status, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(body),
	})
}

// waitFor polls cond until it holds or waitLimit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ---- fd_read ----

func TestFdReadRequestFD(t *testing.T) {
	f := newFixture(t)
	c := f.conn

	if errno, _, _ := f.readFD(t, abi.RequestFD, 64); errno != errnoAgain {
		t.Fatalf("empty read: errno %d, want EAGAIN (%d)", errno, errnoAgain)
	}

	// Two frames, read across two iovecs that cut the first frame.
	frames := append(requestFrame(1, "first"), requestFrame(2, "second body")...)
	c.Push(frames)
	cut := uint32(len(frames) / 3)
	errno, n, got := f.readFD(t, abi.RequestFD, cut, uint32(len(frames))+100)
	if errno != errnoSuccess || n != uint32(len(frames)) {
		t.Fatalf("read of two frames: errno %d nread %d, want 0 and %d", errno, n, len(frames))
	}
	if !bytes.Equal(got, frames) {
		t.Fatalf("read bytes differ from pushed:\n got %x\nwant %x", got, frames)
	}
	if got := f.read(t, bufAddr+cut, 1); got[0] != 0xEE {
		t.Fatalf("fd_read wrote past the end of the first iovec")
	}
	if errno, _, _ := f.readFD(t, abi.RequestFD, 64); errno != errnoAgain {
		t.Fatalf("drained read: errno %d, want EAGAIN", errno)
	}

	if got := c.ReadBytes(); got != uint64(len(frames)) {
		t.Fatalf("ReadBytes after reading two frames: %d, want %d", got, len(frames))
	}

	// Partial reads keep the remainder, also across a Push.
	c.Push([]byte("0123456789"))
	if got := c.ReadBytes(); got != uint64(len(frames)) {
		t.Fatalf("ReadBytes after a Push the guest has not read: %d, want %d", got, len(frames))
	}
	if errno, n, got := f.readFD(t, abi.RequestFD, 4); errno != 0 || n != 4 || string(got) != "0123" {
		t.Fatalf("partial read: errno %d nread %d %q, want 0 4 \"0123\"", errno, n, got)
	}
	if got := c.ReadBytes(); got != uint64(len(frames))+4 {
		t.Fatalf("ReadBytes after a partial read: %d, want %d", got, len(frames)+4)
	}
	c.Push([]byte("abc"))
	if errno, n, got := f.readFD(t, abi.RequestFD, 2, 3); errno != 0 || n != 5 || string(got) != "45678" {
		t.Fatalf("second partial read: errno %d nread %d %q, want 0 5 \"45678\"", errno, n, got)
	}
	if errno, n, got := f.readFD(t, abi.RequestFD, 100); errno != 0 || n != 4 || string(got) != "9abc" {
		t.Fatalf("rest: errno %d nread %d %q, want 0 4 \"9abc\"", errno, n, got)
	}

	// Zero-length iovecs are skipped without consuming anything.
	c.Push([]byte("xy"))
	if errno, n, got := f.readFD(t, abi.RequestFD, 0, 1, 0, 5); errno != 0 || n != 2 || string(got) != "xy" {
		t.Fatalf("read with empty iovecs: errno %d nread %d %q, want 0 2 \"xy\"", errno, n, got)
	}

	// CloseInput: what is queued is still read, then EOF (nread 0, errno 0).
	c.Push([]byte("tail"))
	c.CloseInput()
	if errno, n, got := f.readFD(t, abi.RequestFD, 2); errno != 0 || n != 2 || string(got) != "ta" {
		t.Fatalf("read after CloseInput: errno %d nread %d %q", errno, n, got)
	}
	if errno, n, got := f.readFD(t, abi.RequestFD, 10); errno != 0 || n != 2 || string(got) != "il" {
		t.Fatalf("drain after CloseInput: errno %d nread %d %q", errno, n, got)
	}
	for i := range 2 {
		if errno, n, _ := f.readFD(t, abi.RequestFD, 10); errno != errnoSuccess || n != 0 {
			t.Fatalf("EOF read %d: errno %d nread %d, want 0 0", i, errno, n)
		}
	}
}

func TestFdReadOtherFDs(t *testing.T) {
	f := newFixture(t)
	f.conn.Push([]byte("request bytes must not leak to other fds"))
	tests := []struct {
		fd    uint32
		errno uint32
	}{
		{0, errnoSuccess}, // stdin: EOF
		{1, errnoBadf},
		{2, errnoBadf},
		{abi.ResponseFD, errnoBadf},
		{6, errnoBadf},
		{9, errnoBadf},
		{1 << 31, errnoBadf},
		{^uint32(0), errnoBadf},
	}
	for _, tt := range tests {
		errno, n, _ := f.readFD(t, tt.fd, 16)
		if errno != tt.errno {
			t.Errorf("fd %d: errno %d, want %d", tt.fd, errno, tt.errno)
		}
		if tt.errno == errnoSuccess && n != 0 {
			t.Errorf("fd %d: nread %d, want 0 (EOF)", tt.fd, n)
		}
	}
	// Nothing was consumed from the request fd.
	if _, n, got := f.readFD(t, abi.RequestFD, 100); string(got) != "request bytes must not leak to other fds" {
		t.Fatalf("request fd after other reads: nread %d %q", n, got)
	}
}

func TestFdReadFault(t *testing.T) {
	f := newFixture(t)
	f.conn.Push([]byte("data"))
	f.setIovs(t, iovec{memSize - 2, 10}) // runs off the end of memory
	if errno := f.call(fdRead, abi.RequestFD, iovsAddr, 1, resultAddr); errno != errnoFault {
		t.Fatalf("iovec out of range: errno %d, want EFAULT (%d)", errno, errnoFault)
	}
	if errno := f.call(fdRead, 0, iovsAddr, 1, memSize); errno != errnoFault {
		t.Fatalf("stdin read, nread out of range: errno %d, want EFAULT", errno)
	}
	if errno, n, got := f.readFD(t, abi.RequestFD, 10); errno != 0 || string(got) != "data" {
		t.Fatalf("after faults: errno %d nread %d %q, want the data unconsumed", errno, n, got)
	}
}

// ---- fd_write ----

func TestFdWriteResponseFrames(t *testing.T) {
	f1 := responseFrame(1, 200, "hello")
	f2 := responseFrame(2, 404, "not found, with a longer body")
	stream := append(bytes.Clone(f1), f2...)
	n := len(stream)

	tests := []struct {
		name   string
		chunks []int // chunk end offsets; the last is len(stream)
		iovCut bool  // also split each chunk into two iovecs
	}{
		{"three chunks", []int{3, len(f1) + 5, n}, false},
		{"three chunks two iovecs", []int{7, len(f1) + 1, n}, true},
		{"header split", []int{2, len(f1), len(f1) + 3, n}, false},
		{"one write", []int{n}, true},
		{"byte by byte", func() []int {
			var s []int
			for i := 1; i <= n; i++ {
				s = append(s, i)
			}
			return s
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			start := 0
			for _, end := range tt.chunks {
				chunk := stream[start:end]
				var cuts []int
				if tt.iovCut && len(chunk) > 1 {
					cuts = []int{len(chunk) / 2}
				}
				errno, nw := f.writeFD(t, abi.ResponseFD, chunk, cuts...)
				if errno != errnoSuccess || nw != uint32(len(chunk)) {
					t.Fatalf("write [%d:%d]: errno %d nwritten %d, want 0 %d", start, end, errno, nw, len(chunk))
				}
				// Frames are delivered exactly when they are whole.
				want := 0
				if end >= len(f1) {
					want = 1
				}
				if end == n {
					want = 2
				}
				if got := len(f.gotFrames()); got != want {
					t.Fatalf("after writing [%d:%d]: %d frames delivered, want %d", start, end, got, want)
				}
				start = end
			}
			got := f.gotFrames()
			if len(got) != 2 || !bytes.Equal(got[0], f1) || !bytes.Equal(got[1], f2) {
				t.Fatalf("frames:\n got %x\nwant %x, %x", got, f1, f2)
			}
			for i, fr := range got {
				r, err := abi.DecodeResponse(fr)
				if err != nil || r.ID != uint32(i+1) {
					t.Fatalf("frame %d: %+v, %v", i, r, err)
				}
			}
			if f.stdout.Len() != 0 || f.stderr.Len() != 0 {
				t.Fatalf("response bytes leaked to stdout/stderr: %q %q", f.stdout, f.stderr)
			}
		})
	}
}

func TestFdWriteStdoutStderr(t *testing.T) {
	f := newFixture(t)
	if errno, n := f.writeFD(t, 1, []byte("out: hello\n"), 4); errno != 0 || n != 11 {
		t.Fatalf("stdout: errno %d nwritten %d", errno, n)
	}
	if errno, n := f.writeFD(t, 2, []byte("err: oops\n")); errno != 0 || n != 10 {
		t.Fatalf("stderr: errno %d nwritten %d", errno, n)
	}
	if errno, n := f.writeFD(t, 1, []byte("more")); errno != 0 || n != 4 {
		t.Fatalf("stdout again: errno %d nwritten %d", errno, n)
	}
	if got := f.stdout.String(); got != "out: hello\nmore" {
		t.Errorf("stdout = %q", got)
	}
	if got := f.stderr.String(); got != "err: oops\n" {
		t.Errorf("stderr = %q", got)
	}
	if got := f.gotFrames(); len(got) != 0 {
		t.Errorf("stdout/stderr produced frames: %x", got)
	}
}

func TestFdWriteBadFD(t *testing.T) {
	f := newFixture(t)
	for _, fd := range []uint32{0, abi.RequestFD, 5, 9, ^uint32(0)} {
		if errno, _ := f.writeFD(t, fd, responseFrame(1, 200, "x")); errno != errnoBadf {
			t.Errorf("fd %d: errno %d, want EBADF", fd, errno)
		}
	}
	if f.stdout.Len() != 0 || f.stderr.Len() != 0 || len(f.gotFrames()) != 0 {
		t.Fatalf("a write to a bad fd went somewhere")
	}
}

func TestFdWriteCorruptStreamExits(t *testing.T) {
	f := newFixture(t)
	var hdr [9]byte
	binary.LittleEndian.PutUint32(hdr[:], abi.MaxFrame+1)
	defer func() {
		err, ok := recover().(*sys.ExitError)
		if !ok || err.ExitCode() != 3 {
			t.Fatalf("recovered %v, want *sys.ExitError with code 3", err)
		}
	}()
	f.writeFD(t, abi.ResponseFD, hdr[:])
	t.Fatal("fd_write accepted a frame longer than MaxFrame")
}

// ---- fd_fdstat_get, fd_fdstat_set_flags, fd_close ----

func TestFdFdstatGet(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		fd    uint32
		errno uint32
		flags uint16
	}{
		{0, errnoSuccess, 0},
		{1, errnoSuccess, 0},
		{2, errnoSuccess, 0},
		{abi.RequestFD, errnoSuccess, fdflagNonblock},
		{abi.ResponseFD, errnoSuccess, 0},
		{abi.WakeFD, errnoSuccess, fdflagNonblock},
		{6, errnoBadf, 0},
		{9, errnoBadf, 0},
		{^uint32(0), errnoBadf, 0},
	}
	for _, tt := range tests {
		garbage := bytes.Repeat([]byte{0xAB}, 24)
		f.write(t, resultAddr, garbage)
		errno := f.call(fdFdstatGet, uint64(tt.fd), resultAddr)
		if errno != tt.errno {
			t.Errorf("fd %d: errno %d, want %d", tt.fd, errno, tt.errno)
			continue
		}
		stat := f.read(t, resultAddr, 24)
		if errno != errnoSuccess {
			if !bytes.Equal(stat, garbage) {
				t.Errorf("fd %d: EBADF but the stat was written: %x", tt.fd, stat)
			}
			continue
		}
		if stat[0] != filetypeCharacterDevice {
			t.Errorf("fd %d: filetype %d, want %d", tt.fd, stat[0], filetypeCharacterDevice)
		}
		if got := binary.LittleEndian.Uint16(stat[2:]); got != tt.flags {
			t.Errorf("fd %d: fdflags %#x, want %#x", tt.fd, got, tt.flags)
		}
		if got := binary.LittleEndian.Uint64(stat[8:]); got != ^uint64(0) {
			t.Errorf("fd %d: rights_base %#x, want all", tt.fd, got)
		}
	}
	if errno := f.call(fdFdstatGet, abi.RequestFD, memSize-8); errno != errnoFault {
		t.Errorf("stat out of range: errno %d, want EFAULT", errno)
	}
}

func TestFdFdstatSetFlagsAndClose(t *testing.T) {
	f := newFixture(t)
	for _, fd := range []uint32{0, 1, 2, abi.RequestFD, abi.ResponseFD, abi.WakeFD, 6, 9, ^uint32(0)} {
		want := uint32(errnoSuccess)
		if fd > abi.WakeFD {
			want = errnoBadf
		}
		if got := f.call(fdFdstatSetFlags, uint64(fd), fdflagNonblock); got != want {
			t.Errorf("fd_fdstat_set_flags(%d): errno %d, want %d", fd, got, want)
		}
		if got := f.call(fdClose, uint64(fd)); got != want {
			t.Errorf("fd_close(%d): errno %d, want %d", fd, got, want)
		}
	}
	// Closing the request fd does not stop it from working.
	f.conn.Push([]byte("still here"))
	if errno, _, got := f.readFD(t, abi.RequestFD, 32); errno != 0 || string(got) != "still here" {
		t.Fatalf("read after fd_close: errno %d %q", errno, got)
	}
}

// ---- poll_oneoff ----

type subscription struct {
	userdata uint64
	tag      byte
	fd       uint32        // fd_read, fd_write
	timeout  time.Duration // clock (relative unless abstime)
	abstime  bool
}

func clockSub(ud uint64, d time.Duration) subscription {
	return subscription{userdata: ud, tag: eventClock, timeout: d}
}
func readSub(ud uint64, fd uint32) subscription {
	return subscription{userdata: ud, tag: eventFdRead, fd: fd}
}
func writeSub(ud uint64, fd uint32) subscription {
	return subscription{userdata: ud, tag: eventFdWrite, fd: fd}
}

type event struct {
	userdata uint64
	errno    uint16
	typ      byte
	nbytes   uint64
}

// setSubs writes subs at subsAddr in the WASI layout and poisons the event
// area.
func (f *fixture) setSubs(t *testing.T, subs []subscription) {
	t.Helper()
	for i, s := range subs {
		b := make([]byte, subscriptionSize)
		for j := range b {
			b[j] = 0x5A // garbage in the unused parts
		}
		binary.LittleEndian.PutUint64(b[0:], s.userdata)
		b[8] = s.tag
		switch s.tag {
		case eventClock:
			binary.LittleEndian.PutUint32(b[16:], 1) // clock id: monotonic
			binary.LittleEndian.PutUint64(b[24:], uint64(s.timeout))
			binary.LittleEndian.PutUint64(b[32:], 1000) // precision
			var flags uint16
			if s.abstime {
				flags = subclockAbstime
			}
			binary.LittleEndian.PutUint16(b[40:], flags)
		default:
			binary.LittleEndian.PutUint32(b[16:], s.fd)
		}
		f.write(t, subsAddr+uint32(i)*subscriptionSize, b)
	}
	f.write(t, eventsAddr, bytes.Repeat([]byte{0xA5}, len(subs)*eventSize+eventSize))
	f.setU32(t, resultAddr, 0xDEADBEEF)
}

// startPoll runs poll_oneoff on subs on another goroutine, as the guest
// would. Events are decoded on that goroutine, before the result is sent; a
// panic is recovered into the result.
func (f *fixture) startPoll(t *testing.T, subs ...subscription) <-chan pollResult {
	t.Helper()
	f.setSubs(t, subs)
	ch := make(chan pollResult, 1)
	go func() {
		var res pollResult
		defer func() {
			res.recovered = recover()
			ch <- res
		}()
		start := time.Now()
		res.errno = f.call(pollOneoff, subsAddr, eventsAddr, uint64(len(subs)), resultAddr)
		res.took = time.Since(start)
		if res.errno == errnoSuccess {
			n, _ := f.mod.Memory().ReadUint32Le(resultAddr)
			for i := range min(n, 64) {
				b, _ := f.mod.Memory().Read(eventsAddr+i*eventSize, eventSize)
				res.events = append(res.events, event{
					userdata: binary.LittleEndian.Uint64(b[0:]),
					errno:    binary.LittleEndian.Uint16(b[8:]),
					typ:      b[10],
					nbytes:   binary.LittleEndian.Uint64(b[16:]),
				})
			}
		}
	}()
	return ch
}

type pollResult struct {
	errno     uint32
	events    []event
	took      time.Duration
	recovered any
}

// poll runs poll_oneoff on subs and waits (up to waitLimit) for it to
// return its errno, the events and how long it took.
func (f *fixture) poll(t *testing.T, subs ...subscription) (uint32, []event, time.Duration) {
	t.Helper()
	res := waitResult(t, f.startPoll(t, subs...))
	return res.errno, res.events, res.took
}

// pollAsync starts poll_oneoff on subs and waits until it is inside.
func (f *fixture) pollAsync(t *testing.T, subs ...subscription) <-chan pollResult {
	t.Helper()
	passes := f.conn.Passes()
	ch := f.startPoll(t, subs...)
	waitFor(t, "poll_oneoff to start", func() bool { return f.conn.Passes() > passes && f.conn.InPoll() })
	return ch
}

// mustBlock checks that poll_oneoff has not returned within d.
func mustBlock(t *testing.T, ch <-chan pollResult, d time.Duration) {
	t.Helper()
	select {
	case res := <-ch:
		t.Fatalf("poll_oneoff returned while it should block: %+v", res)
	case <-time.After(d):
	}
}

func waitResult(t *testing.T, ch <-chan pollResult) pollResult {
	t.Helper()
	select {
	case res := <-ch:
		if res.recovered != nil {
			t.Fatalf("poll_oneoff panicked: %v", res.recovered)
		}
		return res
	case <-time.After(waitLimit):
		t.Fatal("poll_oneoff did not return")
		return pollResult{}
	}
}

func wantEvents(t *testing.T, got []event, want ...event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPollClock(t *testing.T) {
	f := newFixture(t)
	const d = 20 * time.Millisecond
	errno, evs, took := f.poll(t, clockSub(0xC10C, d))
	if errno != errnoSuccess {
		t.Fatalf("errno %d", errno)
	}
	wantEvents(t, evs, event{userdata: 0xC10C, typ: eventClock})
	if took < d-time.Millisecond || took > waitLimit {
		t.Fatalf("20 ms clock returned after %v", took)
	}

	// A timeout of 0 is ready at once.
	errno, evs, took = f.poll(t, clockSub(7, 0))
	if errno != errnoSuccess || took > quick {
		t.Fatalf("zero timeout: errno %d after %v", errno, took)
	}
	wantEvents(t, evs, event{userdata: 7, typ: eventClock})

	// Absolute time (realtime): 30 ms from now.
	s := subscription{userdata: 8, tag: eventClock, abstime: true,
		timeout: time.Duration(time.Now().Add(30 * time.Millisecond).UnixNano())}
	errno, evs, took = f.poll(t, s)
	if errno != errnoSuccess || took < 15*time.Millisecond || took > waitLimit {
		t.Fatalf("absolute clock: errno %d after %v, want about 30 ms", errno, took)
	}
	wantEvents(t, evs, event{userdata: 8, typ: eventClock})

	// Two clocks: only the earlier one fires.
	errno, evs, took = f.poll(t, clockSub(1, time.Hour), clockSub(2, 10*time.Millisecond))
	if errno != errnoSuccess || took > waitLimit {
		t.Fatalf("two clocks: errno %d after %v", errno, took)
	}
	wantEvents(t, evs, event{userdata: 2, typ: eventClock})
}

func TestPollClockIgnoresStaleWake(t *testing.T) {
	f := newFixture(t)
	// Push and drain: the wake-up token is left over.
	f.conn.Push([]byte("x"))
	if errno, _, got := f.readFD(t, abi.RequestFD, 8); errno != 0 || string(got) != "x" {
		t.Fatalf("read: errno %d %q", errno, got)
	}
	errno, evs, took := f.poll(t, clockSub(0, 30*time.Millisecond), readSub(0xFD, abi.RequestFD))
	if errno != errnoSuccess || took < 29*time.Millisecond {
		t.Fatalf("errno %d after %v: woken by a stale poke with nothing to read", errno, took)
	}
	wantEvents(t, evs, event{userdata: 0, typ: eventClock})
}

func TestPollReadBlocksUntilPush(t *testing.T) {
	f := newFixture(t)
	ch := f.pollAsync(t, readSub(0xABCDEF0123, abi.RequestFD))
	mustBlock(t, ch, 30*time.Millisecond) // the "later" push
	data := requestFrame(9, "late request")
	f.conn.Push(data)
	res := waitResult(t, ch)
	if res.errno != errnoSuccess {
		t.Fatalf("errno %d", res.errno)
	}
	wantEvents(t, res.events, event{userdata: 0xABCDEF0123, typ: eventFdRead, nbytes: uint64(len(data))})
	if res.took < 25*time.Millisecond {
		t.Fatalf("poll_oneoff returned after %v, before the push", res.took)
	}
	if errno, n, got := f.readFD(t, abi.RequestFD, 4096); errno != 0 || !bytes.Equal(got, data) {
		t.Fatalf("read after wake: errno %d nread %d", errno, n)
	}
}

// ---- the wake fd ----

// Wake records are read whole, as many as fit, from abi.WakeFD; an empty
// wake fd says EAGAIN and a buffer too small for one record EINVAL.
func TestFdReadWakeFD(t *testing.T) {
	f := newFixture(t)
	if errno, _, _ := f.readFD(t, abi.WakeFD, 64); errno != errnoAgain {
		t.Fatalf("empty: errno %d, want EAGAIN", errno)
	}
	for i := range uint32(3) {
		f.conn.Wake(abi.Wake{Token: 10 + i})
	}
	if errno, _, _ := f.readFD(t, abi.WakeFD, 7); errno != errnoInval {
		t.Fatalf("7-byte buffer: errno %d, want EINVAL", errno)
	}
	// 20 bytes across two iovecs: two whole records.
	errno, n, got := f.readFD(t, abi.WakeFD, 5, 15)
	if errno != errnoSuccess || n != 2*abi.WakeSize {
		t.Fatalf("errno %d nread %d, want two records", errno, n)
	}
	if w := abi.DecodeWake(got); w.Token != 10 {
		t.Fatalf("first record %+v", w)
	}
	if w := abi.DecodeWake(got[abi.WakeSize:]); w.Token != 11 {
		t.Fatalf("second record %+v", w)
	}
	if errno, n, got := f.readFD(t, abi.WakeFD, 64); errno != errnoSuccess || n != abi.WakeSize || abi.DecodeWake(got).Token != 12 {
		t.Fatalf("third record: errno %d nread %d %x", errno, n, got)
	}
	if errno, _, _ := f.readFD(t, abi.WakeFD, 64); errno != errnoAgain {
		t.Fatalf("drained: errno %d, want EAGAIN", errno)
	}
}

// A Wake from another goroutine (a pool thread) ends a guest's wait.
func TestPollWakeFD(t *testing.T) {
	f := newFixture(t)
	ch := f.pollAsync(t, readSub(1, abi.RequestFD), readSub(2, abi.WakeFD))
	mustBlock(t, ch, 20*time.Millisecond)
	f.conn.Wake(abi.Wake{Token: 7})
	res := waitResult(t, ch)
	wantEvents(t, res.events, event{userdata: 2, typ: eventFdRead, nbytes: abi.WakeSize})
}

// A wake-up for the next pass is not readable until the guest enters
// poll_oneoff; that poll returns at once with it, and with the requests
// that came meanwhile.
func TestWakeNextPass(t *testing.T) {
	f := newFixture(t)
	f.conn.WakeNextPass(abi.Wake{Token: 9})
	if errno, _, _ := f.readFD(t, abi.WakeFD, 64); errno != errnoAgain {
		t.Fatalf("before a poll: errno %d, want EAGAIN", errno)
	}
	f.conn.Push([]byte("req"))
	errno, evs, took := f.poll(t, readSub(1, abi.RequestFD), readSub(2, abi.WakeFD))
	if errno != errnoSuccess || took > quick {
		t.Fatalf("errno %d after %v, want an immediate return", errno, took)
	}
	wantEvents(t, evs, event{userdata: 1, typ: eventFdRead, nbytes: 3}, event{userdata: 2, typ: eventFdRead, nbytes: abi.WakeSize})
	if errno, _, got := f.readFD(t, abi.WakeFD, 64); errno != errnoSuccess || abi.DecodeWake(got).Token != 9 {
		t.Fatalf("after the poll: errno %d %x", errno, got)
	}
}

func TestPollReadWithLongClock(t *testing.T) {
	t.Run("data queued", func(t *testing.T) {
		f := newFixture(t)
		f.conn.Push([]byte("queued"))
		// Go's netpoller puts its clock first.
		errno, evs, took := f.poll(t, clockSub(0, time.Hour), readSub(42, abi.RequestFD))
		if errno != errnoSuccess || took > quick {
			t.Fatalf("errno %d after %v, want an immediate return", errno, took)
		}
		wantEvents(t, evs, event{userdata: 42, typ: eventFdRead, nbytes: 6})
	})
	t.Run("push while blocked", func(t *testing.T) {
		f := newFixture(t)
		ch := f.pollAsync(t, clockSub(0, time.Hour), readSub(43, abi.RequestFD))
		f.conn.Push([]byte("abc"))
		res := waitResult(t, ch)
		wantEvents(t, res.events, event{userdata: 43, typ: eventFdRead, nbytes: 3})
	})
	t.Run("clock fires first", func(t *testing.T) {
		f := newFixture(t)
		errno, evs, took := f.poll(t, clockSub(5, 20*time.Millisecond), readSub(44, abi.RequestFD))
		if errno != errnoSuccess || took < 19*time.Millisecond || took > waitLimit {
			t.Fatalf("errno %d after %v", errno, took)
		}
		wantEvents(t, evs, event{userdata: 5, typ: eventClock})
	})
}

// poll_oneoff keeps one timer per Conn for its clock subscriptions: a wait
// that a request ended early leaves no fire behind for the next wait, and
// a timer that fired times the next wait afresh.
func TestPollClockTimerReused(t *testing.T) {
	f := newFixture(t)
	const short = 20 * time.Millisecond
	ch := f.pollAsync(t, clockSub(1, short), readSub(2, abi.RequestFD))
	f.conn.Push([]byte("r"))
	wantEvents(t, waitResult(t, ch).events, event{userdata: 2, typ: eventFdRead, nbytes: 1})
	if errno, _, got := f.readFD(t, abi.RequestFD, 8); errno != 0 || string(got) != "r" {
		t.Fatalf("read: errno %d %q", errno, got)
	}
	// Past the first wait's deadline: its timer must not end this one.
	ch = f.pollAsync(t, clockSub(3, time.Hour), readSub(4, abi.RequestFD))
	mustBlock(t, ch, 2*short)
	f.conn.Push([]byte("s"))
	wantEvents(t, waitResult(t, ch).events, event{userdata: 4, typ: eventFdRead, nbytes: 1})
	f.readFD(t, abi.RequestFD, 8)

	for ud := uint64(5); ud < 7; ud++ {
		errno, evs, took := f.poll(t, clockSub(ud, short))
		if errno != errnoSuccess || took < short-time.Millisecond || took > waitLimit {
			t.Fatalf("clock %d: errno %d after %v, want about %v", ud, errno, took, short)
		}
		wantEvents(t, evs, event{userdata: ud, typ: eventClock})
	}
}

func TestPollReadyAtOnce(t *testing.T) {
	tests := []struct {
		name string
		subs []subscription
		want []event
	}{
		{"fd_write response", []subscription{writeSub(1, abi.ResponseFD)},
			[]event{{userdata: 1, typ: eventFdWrite}}},
		{"fd_write stdout and stderr", []subscription{writeSub(1, 1), writeSub(2, 2)},
			[]event{{userdata: 1, typ: eventFdWrite}, {userdata: 2, typ: eventFdWrite}}},
		{"fd_write beside an empty read and a clock", []subscription{
			clockSub(0, time.Hour), readSub(2, abi.RequestFD), writeSub(3, abi.ResponseFD)},
			[]event{{userdata: 3, typ: eventFdWrite}}},
		{"fd_read stdin", []subscription{readSub(4, 0)},
			[]event{{userdata: 4, typ: eventFdRead}}},
		{"fd_read unknown fd", []subscription{readSub(5, 9)},
			[]event{{userdata: 5, typ: eventFdRead}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			errno, evs, took := f.poll(t, tt.subs...)
			if errno != errnoSuccess || took > quick {
				t.Fatalf("errno %d after %v", errno, took)
			}
			wantEvents(t, evs, tt.want...)
		})
	}
}

func TestPollManySubscriptions(t *testing.T) {
	// More subscriptions than the stack array in pollOneoff holds.
	f := newFixture(t)
	var subs []subscription
	var want []event
	for i := range 12 {
		subs = append(subs, writeSub(uint64(100+i), abi.ResponseFD))
		want = append(want, event{userdata: uint64(100 + i), typ: eventFdWrite})
	}
	errno, evs, _ := f.poll(t, subs...)
	if errno != errnoSuccess {
		t.Fatalf("errno %d", errno)
	}
	wantEvents(t, evs, want...)
}

func TestPollInvalid(t *testing.T) {
	f := newFixture(t)
	stack := []uint64{subsAddr, eventsAddr, 0, resultAddr}
	pollOneoff(f.ctx, f.mod, stack)
	if stack[0] != errnoInval {
		t.Errorf("nsubscriptions 0: errno %d, want EINVAL (%d)", stack[0], errnoInval)
	}
	if errno, _, _ := f.poll(t, subscription{userdata: 1, tag: 3}); errno != errnoInval {
		t.Errorf("unknown tag: errno %d, want EINVAL", errno)
	}
	if f.conn.InPoll() {
		t.Errorf("InPoll still true after an EINVAL return")
	}
	if errno := f.call(pollOneoff, memSize-subscriptionSize/2, eventsAddr, 1, resultAddr); errno != errnoFault {
		t.Errorf("subscriptions out of range: errno %d, want EFAULT", errno)
	}
	if errno := f.call(pollOneoff, subsAddr, memSize-eventSize, 2, resultAddr); errno != errnoFault {
		t.Errorf("events out of range: errno %d, want EFAULT", errno)
	}
}

func TestPollPassesAndIdle(t *testing.T) {
	f := newFixture(t)
	c := f.conn
	if c.Passes() != 0 || c.InPoll() || c.IdleTime() != 0 {
		t.Fatalf("fresh Conn: passes %d inPoll %v idle %v", c.Passes(), c.InPoll(), c.IdleTime())
	}
	select {
	case <-c.PassSignal():
		t.Fatal("PassSignal fired before any pass")
	default:
	}

	// Passes that do not wait.
	for i := range 3 {
		if errno, _, _ := f.poll(t, writeSub(1, abi.ResponseFD)); errno != 0 {
			t.Fatalf("errno %d", errno)
		}
		if got := c.Passes(); got != uint64(i+1) {
			t.Fatalf("after %d polls: Passes = %d", i+1, got)
		}
		if c.InPoll() {
			t.Fatal("InPoll true after poll_oneoff returned")
		}
	}
	select {
	case <-c.PassSignal():
	case <-time.After(waitLimit):
		t.Fatal("no PassSignal after passes")
	}
	select { // coalesced: one value for three passes
	case <-c.PassSignal():
		t.Fatal("PassSignal not coalesced")
	default:
	}

	// A pass that waits: InPoll while blocked, idle time grows by about the
	// time blocked.
	idle0 := c.IdleTime()
	if idle0 > 100*time.Millisecond {
		t.Fatalf("idle %v after passes that did not wait", idle0)
	}
	const blockFor = 100 * time.Millisecond
	ch := f.pollAsync(t, readSub(1, abi.RequestFD))
	select {
	case <-c.PassSignal():
	case <-time.After(waitLimit):
		t.Fatal("no PassSignal for a blocking pass")
	}
	if got := c.Passes(); got != 4 {
		t.Fatalf("Passes = %d, want 4", got)
	}
	time.Sleep(blockFor) // the "later" push
	if !c.InPoll() {
		t.Fatal("InPoll false while blocked")
	}
	c.Push([]byte("wake"))
	res := waitResult(t, ch)
	if c.InPoll() {
		t.Fatal("InPoll true after poll_oneoff returned")
	}
	grew := c.IdleTime() - idle0
	if grew < blockFor/2 || grew > res.took+time.Millisecond {
		t.Fatalf("IdleTime grew by %v; blocked about %v, call took %v", grew, blockFor, res.took)
	}

	// A clock wait counts as idle too.
	idle1 := c.IdleTime()
	f.readFD(t, abi.RequestFD, 16)
	_, _, took := f.poll(t, clockSub(0, 30*time.Millisecond))
	if grew := c.IdleTime() - idle1; grew < 15*time.Millisecond || grew > took+time.Millisecond {
		t.Fatalf("IdleTime grew by %v over a 30 ms clock wait of %v", grew, took)
	}
	if got := c.Passes(); got != 5 {
		t.Fatalf("Passes = %d, want 5", got)
	}
}

func TestPollAbortWhileBlocked(t *testing.T) {
	for _, tt := range []struct {
		name string
		subs []subscription
	}{
		{"fd_read", []subscription{readSub(1, abi.RequestFD)}},
		{"fd_read and clock", []subscription{clockSub(0, time.Hour), readSub(1, abi.RequestFD)}},
		{"clock", []subscription{clockSub(0, time.Hour)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ch := f.pollAsync(t, tt.subs...)
			mustBlock(t, ch, 10*time.Millisecond)
			f.conn.Abort()
			f.conn.Abort() // idempotent
			var res pollResult
			select {
			case res = <-ch:
			case <-time.After(waitLimit):
				t.Fatal("Abort did not stop poll_oneoff")
			}
			err, ok := res.recovered.(*sys.ExitError)
			if !ok {
				t.Fatalf("poll_oneoff returned %+v, want a *sys.ExitError panic", res)
			}
			if err.ExitCode() != 0 {
				t.Fatalf("exit code %d, want 0", err.ExitCode())
			}
			if f.conn.InPoll() {
				t.Fatal("InPoll true after Abort")
			}
			if !f.mod.IsClosed() {
				t.Fatal("module not closed after Abort")
			}
		})
	}
}

func TestPollAfterAbort(t *testing.T) {
	// Abort before the wait: a pass with a ready event still returns it;
	// the next pass that would wait exits.
	f := newFixture(t)
	f.conn.Abort()
	errno, evs, _ := f.poll(t, writeSub(1, abi.ResponseFD))
	if errno != errnoSuccess {
		t.Fatalf("errno %d", errno)
	}
	wantEvents(t, evs, event{userdata: 1, typ: eventFdWrite})
	select {
	case res := <-f.startPoll(t, readSub(1, abi.RequestFD)):
		if err, ok := res.recovered.(*sys.ExitError); !ok || err.ExitCode() != 0 {
			t.Fatalf("poll_oneoff returned %+v, want a *sys.ExitError panic with code 0", res)
		}
	case <-time.After(waitLimit):
		t.Fatal("poll_oneoff waited after Abort")
	}
}

func TestPollCloseInputWakes(t *testing.T) {
	f := newFixture(t)
	ch := f.pollAsync(t, clockSub(0, time.Hour), readSub(0x77, abi.RequestFD))
	mustBlock(t, ch, 20*time.Millisecond)
	f.conn.CloseInput()
	res := waitResult(t, ch)
	if res.errno != errnoSuccess {
		t.Fatalf("errno %d", res.errno)
	}
	wantEvents(t, res.events, event{userdata: 0x77, typ: eventFdRead, nbytes: 0})
	if errno, n, _ := f.readFD(t, abi.RequestFD, 16); errno != 0 || n != 0 {
		t.Fatalf("read after close: errno %d nread %d, want EOF", errno, n)
	}
	// Once closed, the fd stays readable: no more waiting.
	errno, evs, took := f.poll(t, readSub(0x78, abi.RequestFD))
	if errno != errnoSuccess || took > quick {
		t.Fatalf("poll after close: errno %d after %v", errno, took)
	}
	wantEvents(t, evs, event{userdata: 0x78, typ: eventFdRead})
}

// TestGuestLoop drives the functions the way the Go runtime does: poll,
// read until EAGAIN, repeat until EOF, while another goroutine pushes
// frames, and answers every request through fd_write.
func TestGuestLoop(t *testing.T) {
	f := newFixture(t)
	const n = 200
	var want []byte
	for i := range n {
		want = append(want, requestFrame(uint32(i), string(bytes.Repeat([]byte{'a' + byte(i%26)}, i)))...)
	}
	go func() {
		rest := want
		for i := 0; len(rest) > 0; i++ {
			k := min(len(rest), 1+(i*37)%900)
			f.conn.Push(rest[:k])
			rest = rest[k:]
			if i%16 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		f.conn.CloseInput()
	}()

	var got []byte
	answered := 0
	deadline := time.Now().Add(4 * waitLimit)
	for eof := false; !eof; {
		if time.Now().After(deadline) {
			t.Fatalf("guest loop did not finish; got %d of %d bytes", len(got), len(want))
		}
		errno, _, _ := f.poll(t, clockSub(0, time.Second), readSub(1, abi.RequestFD))
		if errno != errnoSuccess {
			t.Fatalf("poll errno %d", errno)
		}
		for {
			if time.Now().After(deadline) {
				t.Fatal("guest loop: reads never return EAGAIN")
			}
			errno, nr, b := f.readFD(t, abi.RequestFD, 100, 157)
			if errno == errnoAgain {
				break
			}
			if errno != errnoSuccess {
				t.Fatalf("read errno %d", errno)
			}
			if nr == 0 {
				eof = true
				break
			}
			got = append(got, b...)
		}
		// Answer every whole request received so far.
		for {
			frame, _, ok, err := abi.Split(got[answered:])
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			req, err := abi.DecodeRequest(frame)
			if err != nil {
				t.Fatalf("decoding request: %v", err)
			}
			resp := responseFrame(req.ID, 200, string(req.Body))
			if errno, nw := f.writeFD(t, abi.ResponseFD, resp, len(resp)/2); errno != 0 || nw != uint32(len(resp)) {
				t.Fatalf("write errno %d nwritten %d", errno, nw)
			}
			answered += len(frame)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("guest read %d bytes, not the %d pushed (or out of order)", len(got), len(want))
	}
	frames := f.gotFrames()
	if len(frames) != n {
		t.Fatalf("%d response frames, want %d", len(frames), n)
	}
	for i, fr := range frames {
		r, err := abi.DecodeResponse(fr)
		if err != nil || r.ID != uint32(i) || len(r.Body) != i {
			t.Fatalf("response %d: %+v %v", i, r, err)
		}
	}
}

// TestPushReclaimsReadBytes: under a steady backlog (the guest always a
// little behind the host, so the queue is never empty when Push runs) the
// bytes the guest has already read must not pile up in the Conn.
//
// Push used to compact c.in only when the guest had read everything
// (inOff == len(in)); otherwise it appended after the consumed prefix,
// which was carried along by every reallocation, so memory grew with
// everything pushed while the backlog lasted.
func TestPushReclaimsReadBytes(t *testing.T) {
	f := newFixture(t)
	chunk := bytes.Repeat([]byte{'r'}, 1024)
	f.conn.Push(chunk) // the backlog: one chunk ahead
	for i := range 2000 {
		f.conn.Push(chunk)
		if errno, n, _ := f.readFD(t, abi.RequestFD, 1024); errno != 0 || n != 1024 {
			t.Fatalf("read %d: errno %d nread %d", i, errno, n)
		}
	}
	f.conn.mu.Lock()
	pending, held := len(f.conn.in)-f.conn.inOff, cap(f.conn.in)
	f.conn.mu.Unlock()
	if pending != 1024 {
		t.Fatalf("pending %d bytes, want 1024", pending)
	}
	if held > 64<<10 {
		t.Fatalf("Conn holds a %d-byte buffer for %d unread bytes: read bytes are never reclaimed while a backlog persists", held, pending)
	}
}

// SetReclaim's function runs while the guest waits in poll_oneoff, once
// the guest has run since its last call and at most once every period: a
// wait that began before then runs it when the period is over, without
// returning.
func TestPollReclaim(t *testing.T) {
	f := newFixture(t)
	const every = 50 * time.Millisecond
	type call struct {
		at     time.Time
		inPoll bool
	}
	calls := make(chan call, 8)
	f.conn.SetReclaim(every, func() { calls <- call{time.Now(), f.conn.InPoll()} })
	next := func(what string) call {
		t.Helper()
		select {
		case c := <-calls:
			if !c.inPoll {
				t.Fatalf("%s: reclaim ran outside poll_oneoff", what)
			}
			return c
		case <-time.After(waitLimit):
			t.Fatalf("%s: reclaim did not run", what)
			return call{}
		}
	}
	none := func(what string, d time.Duration) {
		t.Helper()
		select {
		case <-calls:
			t.Fatalf("%s: reclaim ran", what)
		case <-time.After(d):
		}
	}

	// The first wait: due at once.
	ch := f.pollAsync(t, readSub(1, abi.RequestFD))
	first := next("first wait")
	f.conn.Push(requestFrame(1, "a"))
	if res := waitResult(t, ch); res.errno != errnoSuccess {
		t.Fatalf("errno %d", res.errno)
	}
	if errno, _, _ := f.readFD(t, abi.RequestFD, 4096); errno != 0 {
		t.Fatalf("read: errno %d", errno)
	}

	// The next wait begins within the period: it runs once the period is
	// over, and the wait goes on until a request comes.
	ch = f.pollAsync(t, readSub(2, abi.RequestFD))
	second := next("a wait begun within the period")
	if gap := second.at.Sub(first.at); gap < every {
		t.Fatalf("reclaim ran %v after the last time, want at least %v", gap, every)
	}
	// The guest has not run since: the same wait does not run it again.
	none("the same wait, later", 3*every)
	mustBlock(t, ch, time.Millisecond)
	f.conn.Push(requestFrame(2, "b"))
	if res := waitResult(t, ch); res.errno != errnoSuccess {
		t.Fatalf("errno %d", res.errno)
	}
}
