//go:build wasip1

package guest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

const defaultModel = "wasm"

// Host functions of the "mpmlab" module (runtime/host.go).

//go:wasmimport mpmlab block
func hostBlock(ns int64, id uint32, where unsafe.Pointer, whereLen uint32)

//go:wasmimport mpmlab span
func hostSpan(begin uint32, id uint32, where unsafe.Pointer, whereLen uint32)

//go:wasmimport mpmlab req_begin
func hostReqBegin(id uint32)

//go:wasmimport mpmlab req_end
func hostReqEnd(id uint32) uint32

//go:wasmimport mpmlab req_where
func hostReqWhere(id uint32, where unsafe.Pointer, whereLen uint32)

//go:wasmimport mpmlab loop_lag
func hostLoopLag(ns int64)

//go:wasmimport mpmlab shared_add
func hostSharedAdd(key unsafe.Pointer, keyLen uint32, delta int64) int64

//go:wasmimport mpmlab shared_get
func hostSharedGet(key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport mpmlab shared_set
func hostSharedSet(key unsafe.Pointer, keyLen uint32, v int64)

//go:wasmimport mpmlab pool_submit
func hostPoolSubmit(token uint32, work uint32, ns int64, id uint32, where unsafe.Pointer, whereLen uint32) uint32

//go:wasmimport mpmlab yield
func hostYield(token uint32)

// Block holds the whole instance for d in a synchronous host call: no other
// goroutine of this instance runs meanwhile, as with a blocking disk read or
// database driver. Under the reactor this stalls every connection of the
// loop; time.Sleep, by contrast, parks only the calling goroutine.
func Block(d time.Duration) {
	where := callerPos()
	hostBlock(int64(d), currentRequest(), unsafe.Pointer(unsafe.StringData(where)), uint32(len(where)))
}

func computeBegin(where string) {
	if marks {
		hostSpan(1, currentRequest(), unsafe.Pointer(unsafe.StringData(where)), uint32(len(where)))
	}
}

func computeEnd() {
	if marks {
		hostSpan(0, currentRequest(), nil, 0)
	}
}

// Request marks.
//
// The host keeps the books of the loop (runtime/internal/timeline): which
// request holds it, when. It learns of waits from poll_oneoff; the SDK tells
// it the rest with host calls: req_begin when a handler first runs, req_end
// when it returns, span around guest.Compute, and guest.Block itself. Those
// calls name the request; guest.Compute and guest.Block find theirs through
// the goroutine that calls them (each serving goroutine registers the
// request it serves), or send 0 — "whoever runs" — from a goroutine of the
// handler's own.

// marks is false when the host asked for no request marks (MPMLAB_PHASES=0).
var marks = os.Getenv(envPhases) != "0"

var (
	servingMu sync.Mutex
	serving   = map[uint64]uint32{} // goroutine id → request it serves
)

// currentRequest is the request the calling goroutine serves, or 0.
func currentRequest() uint32 {
	g := goid()
	servingMu.Lock()
	defer servingMu.Unlock()
	return serving[g]
}

// goid parses the calling goroutine's id from its stack trace header,
// "goroutine 18 [running]:".
func goid() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// Wake-ups.
//
// pool_submit and yield give the host a token; the host answers with an
// abi.Wake record naming it on abi.WakeFD: when the pool task is done, or
// (yield) once the loop next enters poll_oneoff. One goroutine reads that
// fd through the netpoller, so a goroutine waiting for a wake-up is parked
// like one waiting for a request, and hands each record to its waiter.

var wakes struct {
	once sync.Once
	mu   sync.Mutex
	next uint32
	wait map[uint32]chan struct{} // token → its waiter
}

// newToken returns a fresh token and the channel its wake-up arrives on.
// The guest is single-threaded: the calling goroutine reaches its receive
// before the reader can run, but the reader needs no such luck.
func newToken() (uint32, chan struct{}) {
	wakes.once.Do(func() {
		wakes.wait = map[uint32]chan struct{}{}
		go readWakes()
	})
	ch := make(chan struct{}, 1)
	wakes.mu.Lock()
	wakes.next++
	t := wakes.next
	wakes.wait[t] = ch
	wakes.mu.Unlock()
	return t, ch
}

func dropToken(t uint32) {
	wakes.mu.Lock()
	delete(wakes.wait, t)
	wakes.mu.Unlock()
}

func readWakes() {
	f := os.NewFile(abi.WakeFD, "mpmlab-wakes") // non-blocking: parks in the netpoller
	buf := make([]byte, 64*abi.WakeSize)
	for {
		n, err := f.Read(buf) // whole records only
		if err != nil {
			panic("mpmlab: reading wake-ups: " + err.Error())
		}
		for b := buf[:n]; len(b) >= abi.WakeSize; b = b[abi.WakeSize:] {
			w := abi.DecodeWake(b)
			wakes.mu.Lock()
			ch := wakes.wait[w.Token]
			delete(wakes.wait, w.Token)
			wakes.mu.Unlock()
			if ch != nil {
				ch <- struct{}{}
			}
		}
	}
}

// poolRun posts work to the worker's thread pool and parks until it is done.
func poolRun(work uint32, d time.Duration, where string) error {
	token, done := newToken()
	if n := hostPoolSubmit(token, work, int64(d), currentRequest(), unsafe.Pointer(unsafe.StringData(where)), uint32(len(where))); n != 0 {
		dropToken(token)
		return &PoolOverflowError{Waiting: int(n)}
	}
	<-done
	return nil
}

// yield parks until the loop has polled: the host wakes the token at the
// next poll_oneoff, which also reads the requests that came. Those are
// handed to their goroutines as the poll's readers run, and the wake-up
// readies this one ahead of them; the Gosched puts it behind them.
func yield() {
	token, done := newToken()
	hostYield(token)
	<-done
	runtime.Gosched()
}

func sharedAdd(k string, d int64) int64 {
	return hostSharedAdd(unsafe.Pointer(unsafe.StringData(k)), uint32(len(k)), d)
}
func sharedGet(k string) int64 {
	return hostSharedGet(unsafe.Pointer(unsafe.StringData(k)), uint32(len(k)))
}
func sharedSet(k string, v int64) {
	hostSharedSet(unsafe.Pointer(unsafe.StringData(k)), uint32(len(k)), v)
}

// Serve runs the instance's cooperative loop until the host closes the
// request stream. h == nil means http.DefaultServeMux.
//
// One goroutine (this one) reads every frame the host sends: a request's
// head starts its handler on a goroutine; the other frames (body bytes,
// acknowledgements, cancellation) go to the stream of the request they
// name, whose handler may be parked waiting for them. See package abi's
// doc, "Streams".
func Serve(h http.Handler) {
	if h == nil {
		h = http.DefaultServeMux
	}
	in := os.NewFile(abi.RequestFD, "mpmlab-requests") // non-blocking: parks in the netpoller
	out := &frameWriter{}
	if os.Getenv(envLag) == "1" {
		go monitorLoopLag()
	}
	setGCPercent()
	r := bufio.NewReaderSize(in, 64<<10)
	var buf []byte
	for {
		frame, err := abi.ReadFrame(r, buf)
		if err == io.EOF {
			return // the host closed the stream: shut down cleanly
		}
		if err != nil {
			panic("mpmlab: reading request frame: " + err.Error())
		}
		buf = frame
		kind, id, err := abi.Kind(frame)
		if err != nil {
			panic("mpmlab: " + err.Error())
		}
		if kind != abi.KindRequest {
			f, err := abi.DecodeFrame(frame)
			if err != nil {
				panic("mpmlab: " + err.Error())
			}
			streams.mu.Lock()
			st := streams.m[id]
			streams.mu.Unlock()
			if st != nil {
				st.deliver(f)
			}
			continue
		}
		req, err := abi.DecodeRequest(frame)
		if err != nil {
			panic("mpmlab: " + err.Error())
		}
		st := newStream(req.ID, out)
		select {
		case idle <- job{req, st}: // a warm goroutine takes it
		default:
			go serveLoop(h, job{req, st}, out)
		}
	}
}

// setGCPercent collects at the percent the host asks for (envGOGC), unless
// the handler's environment sets GOGC. The host asks for a low one where
// an instance serves one request at a time: its live heap is small, and
// the collector's floor (a 4 MB heap at GOGC 100) is then most of the
// linear memory the instance writes, which wasm never hands back.
func setGCPercent() {
	if os.Getenv("GOGC") != "" {
		return
	}
	if n, err := strconv.Atoi(os.Getenv(envGOGC)); err == nil && n > 0 {
		debug.SetGCPercent(n)
	}
}

// job is a request for a serving goroutine.
type job struct {
	req *abi.Request
	st  *stream
}

// idle hands requests to goroutines that have finished one and wait for
// the next. Reusing them keeps their grown stacks: a fresh goroutine would
// grow (copy) its stack through net/http's call depth on every request,
// which costs more than the rest of the SDK's work.
var idle = make(chan job)

// streams are the requests in flight, by id: where the reading loop
// delivers their frames.
var streams = struct {
	mu sync.Mutex
	m  map[uint32]*stream
}{m: map[uint32]*stream{}}

// stream is the guest's end of one request's stream: the input the host
// sent (body or, once hijacked, connection bytes) and not yet read, and the
// credit left for output (abi.Window).
type stream struct {
	id     uint32
	out    *frameWriter
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	cond   sync.Cond // on mu: input, EOF or credit came
	in     []byte
	inEOF  bool
	inErr  error
	asked  bool // a KindRead is outstanding
	credit int
	ended  bool // the final frame is sent
	gone   bool // the client went away (KindCancel)
}

// errGone is what reads and writes of a request whose client went away
// return, as net/http's fail on a closed connection.
var errGone = errors.New("mpmlab: the client closed the connection")

func newStream(id uint32, out *frameWriter) *stream {
	st := &stream{id: id, out: out, credit: abi.Window}
	st.cond.L = &st.mu
	st.ctx, st.cancel = context.WithCancel(context.Background())
	streams.mu.Lock()
	streams.m[id] = st
	streams.mu.Unlock()
	return st
}

// deliver takes one frame from the host (on the reading goroutine).
func (st *stream) deliver(f *abi.Frame) {
	switch f.Kind {
	case abi.KindCancel:
		st.mu.Lock()
		st.gone = true
		st.mu.Unlock()
		st.cond.Broadcast()
		st.cancel()
		return
	case abi.KindData, abi.KindEOF, abi.KindWindow:
	default:
		return
	}
	st.mu.Lock()
	switch f.Kind {
	case abi.KindData:
		st.in = append(st.in, f.Data...)
		st.asked = false
	case abi.KindEOF:
		st.inEOF, st.asked = true, false
		st.inErr = io.EOF
		if len(f.Data) > 0 {
			st.inErr = errors.New(string(f.Data))
		}
	case abi.KindWindow:
		st.credit += int(f.N)
	}
	st.mu.Unlock()
	st.cond.Broadcast()
}

// read reads input the host sends, asking for it (KindRead) when none is
// here; it parks the calling goroutine until some comes.
func (st *stream) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		switch {
		case len(st.in) > 0:
			n := copy(p, st.in)
			st.in = st.in[n:]
			if len(st.in) == 0 {
				st.in = nil
			}
			return n, nil
		case st.inEOF:
			return 0, st.inErr
		case st.ended:
			return 0, net.ErrClosed
		case st.gone:
			return 0, errGone
		}
		if !st.asked {
			st.asked = true
			st.out.send(&abi.Frame{Kind: abi.KindRead, ID: st.id, N: abi.MaxData})
		}
		st.cond.Wait()
	}
}

// write sends b as KindData frames (flush marks the last), parking while
// the host has not acknowledged abi.Window bytes: a slow client slows the
// handler down instead of filling memory.
func (st *stream) write(b []byte, flush bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(b) > 0 || flush {
		if st.ended {
			return net.ErrClosed
		}
		n := min(len(b), abi.MaxData)
		for st.credit < n && !st.ended && !st.gone {
			st.cond.Wait()
		}
		switch {
		case st.ended:
			return net.ErrClosed
		case st.gone:
			return errGone
		}
		st.credit -= n
		f := &abi.Frame{Kind: abi.KindData, ID: st.id, Data: b[:n]}
		b = b[n:]
		if len(b) == 0 && flush {
			f.Flags, flush = abi.FlagFlush, false
		}
		st.out.send(f)
	}
	return nil
}

// end sends the stream's final frame and forgets the stream.
func (st *stream) end(f *abi.Frame) {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return
	}
	st.ended = true
	f.ID = st.id
	st.out.send(f)
	st.mu.Unlock()
	st.cond.Broadcast()
	streams.mu.Lock()
	delete(streams.m, st.id)
	streams.mu.Unlock()
	st.cancel()
}

func serveLoop(h http.Handler, j job, out *frameWriter) {
	// The goroutine's response writer serves each of its requests in turn:
	// a ResponseWriter may not be used once its handler has returned (a
	// hijacked one belongs to its connection: the next request gets a new
	// one).
	w := &responseWriter{header: http.Header{}}
	g := uint64(0)
	if marks {
		g = goid()
		defer func() {
			servingMu.Lock()
			delete(serving, g)
			servingMu.Unlock()
		}()
	}
	for {
		if marks {
			servingMu.Lock()
			serving[g] = j.req.ID
			servingMu.Unlock()
		}
		serveOne(h, j, w)
		if w.hijacked {
			w = &responseWriter{header: http.Header{}}
		} else {
			w.reset()
		}
		j = <-idle
	}
}

// monitorLoopLag measures the loop's delay the way Node's
// monitorEventLoopDelay does: a 10 ms timer, lag = interval - 10 ms.
func monitorLoopLag() {
	const interval = 10 * time.Millisecond
	for {
		t := time.Now()
		time.Sleep(interval)
		lag := time.Since(t) - interval
		if lag < 0 {
			lag = 0
		}
		hostLoopLag(int64(lag))
	}
}

func serveOne(h http.Handler, j job, w *responseWriter) {
	in, st := j.req, j.st
	u := parseURI(in.URI)
	proto := in.Proto
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		proto, major, minor = "HTTP/1.1", 1, 1
	}
	req := &http.Request{
		Method:           in.Method,
		URL:              u,
		Proto:            proto,
		ProtoMajor:       major,
		ProtoMinor:       minor,
		Header:           in.Header,
		Body:             http.NoBody,
		ContentLength:    in.ContentLength,
		TransferEncoding: in.TransferEncoding,
		Close:            in.Close,
		Host:             in.Host,
		RemoteAddr:       in.RemoteAddr,
		RequestURI:       in.URI,
	}
	switch {
	case in.Stream:
		req.Body = &body{st: st}
	case len(in.Body) > 0:
		req.Body = io.NopCloser(bytes.NewReader(in.Body))
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req = req.WithContext(st.ctx)
	w.st = st
	if marks {
		hostReqBegin(in.ID)
	}
	h.ServeHTTP(w, req)
	if marks && hostReqEnd(in.ID) != 0 {
		// It held the loop in its own code: say where that code is.
		where := handlerPos(h, req)
		hostReqWhere(in.ID, unsafe.Pointer(unsafe.StringData(where)), uint32(len(where)))
	}
	w.finish()
}

// lastURI is the request URI parsed last and its URL: a loop under load
// mostly serves the same few URIs, and a copy of a parsed URL costs less
// than parsing it again (url.URL holds only strings and an immutable
// *url.Userinfo, so copies share nothing a handler could change).
var lastURI struct {
	mu  sync.Mutex
	uri string
	u   url.URL
}

// parseURI parses a request URI as net/http does (url.ParseRequestURI);
// one that does not parse is served as "/".
func parseURI(uri string) *url.URL {
	lastURI.mu.Lock()
	if uri == lastURI.uri && uri != "" {
		u := lastURI.u
		lastURI.mu.Unlock()
		return &u
	}
	lastURI.mu.Unlock()
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return &url.URL{Path: "/"}
	}
	lastURI.mu.Lock()
	lastURI.uri, lastURI.u = uri, *u
	lastURI.mu.Unlock()
	return u
}

// body is a streamed request body: it reads what the host sends when asked.
type body struct {
	st     *stream
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("http: invalid Read on closed Body")
	}
	return b.st.read(p)
}

func (b *body) Close() error { b.closed = true; return nil }

// bufferSize is how much of a body the response writer gathers before it
// sends it on: a response that fits, from a handler that does not flush,
// leaves whole in one KindResponse frame when the handler returns.
const bufferSize = 32 << 10

// responseWriter is net/http's response writer over a stream: the header
// is taken as it is at WriteHeader (later changes are dropped, trailers
// aside), 1xx statuses go out at once, the body leaves as it is written
// (every bufferSize bytes, and at each Flush), the trailers when the
// handler returns. The framing (Content-Length, chunked) and the
// Content-Type sniffing are done by the host's own net/http from what it
// is sent, so they are net/http's.
type responseWriter struct {
	st     *stream
	header http.Header
	// snap is the header as it was at WriteHeader, encoded for the frame
	// that sends it (abi.Frame.HeaderWire), and declared the trailers the
	// "Trailer" header named then: taken so, a handler's later changes
	// are dropped without a copy of the map, and both buffers are reused
	// by the goroutine's next request.
	snap     []byte
	declared []string
	status   int
	body     []byte // written, not yet sent
	headSent bool
	clen     int64 // the declared Content-Length; -1 for none
	written  int64
	hijacked bool
}

func (w *responseWriter) Header() http.Header { return w.header }

// reset readies w for the next request of its goroutine, keeping its
// header map's memory and its body buffer's.
func (w *responseWriter) reset() {
	clear(w.header)
	w.st, w.snap, w.declared, w.status, w.body, w.headSent, w.written = nil, w.snap[:0], w.declared[:0], 0, w.body[:0], false, 0
}

func (w *responseWriter) WriteHeader(status int) {
	if status < 100 || status > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(status)) // as net/http does
	}
	if w.hijacked || w.status != 0 {
		return // net/http logs a superfluous call and ignores it
	}
	if status < 200 && status != http.StatusSwitchingProtocols {
		// An interim response leaves at once, with the header as it is.
		w.st.out.send(&abi.Frame{Kind: abi.KindInterim, ID: w.st.id, N: uint32(status), Header: w.header})
		return
	}
	w.status = status
	w.snap = abi.AppendHeader(w.snap[:0], w.header)
	w.declared = append(w.declared[:0], w.header["Trailer"]...)
	w.clen = -1
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.clen = n
		}
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	// As net/http: what a failed Write tried counts too, so every Write
	// after one past the declared length fails as well, and the response
	// ends short (net/http then closes the connection).
	w.written += int64(len(p))
	if w.clen >= 0 && w.written > w.clen {
		return 0, http.ErrContentLength
	}
	if len(w.body)+len(p) <= bufferSize {
		w.body = append(w.body, p...)
		return len(p), nil
	}
	if err := w.send(w.body, false); err != nil {
		return 0, err
	}
	w.body = w.body[:0]
	if len(p) < bufferSize {
		w.body = append(w.body, p...)
		return len(p), nil
	}
	if err := w.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send sends the head (once) and b.
func (w *responseWriter) send(b []byte, flush bool) error {
	if !w.headSent {
		w.headSent = true
		w.st.out.send(&abi.Frame{Kind: abi.KindHead, ID: w.st.id, N: uint32(w.status), HeaderWire: w.snap})
	}
	return w.st.write(b, flush)
}

// Flush sends the head and every byte written so far (http.Flusher).
func (w *responseWriter) Flush() {
	if w.hijacked {
		return
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.send(w.body, true)
	w.body = w.body[:0]
}

// FlushError is Flush, reporting a client that went away
// (http.ResponseController uses it).
func (w *responseWriter) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	err := w.send(w.body, true)
	w.body = w.body[:0]
	return err
}

// finish ends the response when the handler has returned: whole, in one
// frame, if nothing of it was sent yet.
func (w *responseWriter) finish() {
	if w.hijacked {
		return // the connection is the handler's: its Close ends the stream
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	trailer := w.trailers()
	if !w.headSent {
		w.st.end(&abi.Frame{Kind: abi.KindResponse, N: uint32(w.status), HeaderWire: w.snap, Trailer: trailer, Data: w.body})
	} else {
		if len(w.body) > 0 {
			w.st.write(w.body, false)
		}
		w.st.end(&abi.Frame{Kind: abi.KindEnd, Trailer: trailer})
	}
	if cap(w.body) > 2*bufferSize {
		w.body = nil // a large write grew it: give it back
	}
	if cap(w.snap) > bufferSize {
		w.snap = nil // so did a large header
	}
}

// trailers are the trailers net/http would send: the values, as the
// handler left them, of those the "Trailer" header declared at
// WriteHeader, and of the keys with http.TrailerPrefix.
func (w *responseWriter) trailers() http.Header {
	var t http.Header
	add := func(k string, v []string) {
		if t == nil {
			t = http.Header{}
		}
		t[k] = v
	}
	for _, decl := range w.declared {
		for _, k := range strings.Split(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if v, ok := w.header[k]; ok {
				add(k, v)
			}
		}
	}
	for k, v := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			add(k, v)
		}
	}
	return t
}

// bodyAllowed reports whether a response of this status may have a body
// (net/http's bodyAllowedForStatus).
func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// Hijack hands the handler the client's connection (http.Hijacker): what
// it writes goes to the client as is, what it reads is what the client
// sends. It fails once the response's head has been sent.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.headSent {
		return nil, nil, errors.New("mpmlab: Hijack after the response was flushed")
	}
	w.hijacked = true
	w.st.out.send(&abi.Frame{Kind: abi.KindHijack, ID: w.st.id})
	c := &conn{st: w.st}
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

// conn is a hijacked connection: its bytes travel as KindRead and KindData
// frames of the request's stream, and Close ends the stream (the host then
// closes the client's connection). Deadlines are not supported: the
// Set*Deadline methods return an error.
type conn struct {
	st *stream
}

func (c *conn) Read(p []byte) (int, error) { return c.st.read(p) }
func (c *conn) Write(p []byte) (int, error) {
	if err := c.st.write(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}
func (c *conn) Close() error {
	c.st.end(&abi.Frame{Kind: abi.KindEnd})
	return nil
}
func (c *conn) LocalAddr() net.Addr  { return addr("mpmlab-host") }
func (c *conn) RemoteAddr() net.Addr { return addr("mpmlab-client") }

var errNoDeadline = errors.New("mpmlab: a hijacked connection has no deadlines")

func (c *conn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c *conn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c *conn) SetWriteDeadline(time.Time) error { return errNoDeadline }

type addr string

func (a addr) Network() string { return "mpmlab" }
func (a addr) String() string  { return string(a) }

// frameWriter writes whole frames to the response fd, one at a time. It
// calls fd_write itself (syscall.Write), not through an os.File: writes to
// the response fd never block, so the netpoller and the fd's locks that an
// os.File would take for each frame have nothing to do.
type frameWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (o *frameWriter) send(f *abi.Frame) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = abi.AppendFrame(o.buf[:0], f)
	for b := o.buf; len(b) > 0; {
		n, err := syscall.Write(abi.ResponseFD, b)
		if err != nil {
			panic("mpmlab: writing response frame: " + err.Error())
		}
		b = b[n:]
	}
	if cap(o.buf) > 2*abi.MaxData {
		o.buf = nil
	}
}

func browserWorker() string { return "" }

// handlerPos is the position of the function that serves req: the handler
// the mux routes it to, when that is a func.
func handlerPos(h http.Handler, req *http.Request) string {
	if mux, ok := h.(*http.ServeMux); ok {
		h, _ = mux.Handler(req)
	}
	v := reflect.ValueOf(h)
	if v.Kind() != reflect.Func {
		return ""
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return ""
	}
	return position(f.FileLine(v.Pointer()))
}
