//go:build wasip1

package guest

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strconv"
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
func Serve(h http.Handler) {
	if h == nil {
		h = http.DefaultServeMux
	}
	in := os.NewFile(abi.RequestFD, "mpmlab-requests") // non-blocking: parks in the netpoller
	out := &frameWriter{}
	if os.Getenv(envLag) == "1" {
		go monitorLoopLag()
	}
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
		req, err := abi.DecodeRequest(frame)
		if err != nil {
			panic("mpmlab: " + err.Error())
		}
		buf = frame
		select {
		case idle <- req: // a warm goroutine takes it
		default:
			go serveLoop(h, req, out)
		}
	}
}

// idle hands requests to goroutines that have finished one and wait for
// the next. Reusing them keeps their grown stacks: a fresh goroutine would
// grow (copy) its stack through net/http's call depth on every request,
// which costs more than the rest of the SDK's work.
var idle = make(chan *abi.Request)

func serveLoop(h http.Handler, req *abi.Request, out *frameWriter) {
	// The goroutine's response writer serves each of its requests in turn:
	// a ResponseWriter may not be used once its handler has returned.
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
			serving[g] = req.ID
			servingMu.Unlock()
		}
		serveOne(h, req, w, out)
		w.reset()
		req = <-idle
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

func serveOne(h http.Handler, in *abi.Request, w *responseWriter, out *frameWriter) {
	u, err := url.ParseRequestURI(in.URI)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	req := &http.Request{
		Method:        in.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        in.Header,
		Body:          http.NoBody,
		ContentLength: int64(len(in.Body)),
		Host:          in.Host,
		RemoteAddr:    in.RemoteAddr,
		RequestURI:    in.URI,
	}
	if len(in.Body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(in.Body))
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if marks {
		hostReqBegin(in.ID)
	}
	h.ServeHTTP(w, req)
	if marks && hostReqEnd(in.ID) != 0 {
		// It held the loop in its own code: say where that code is.
		where := handlerPos(h, req)
		hostReqWhere(in.ID, unsafe.Pointer(unsafe.StringData(where)), uint32(len(where)))
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	out.write(&abi.Response{ID: in.ID, Status: w.status, Header: w.header, Body: w.body.Bytes()})
}

// responseWriter buffers a response; the whole response leaves as one frame
// when the handler returns.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

// reset readies w for the next request of its goroutine, keeping its
// header map's memory and its body buffer's, unless a large response grew
// the buffer: that memory goes back to the garbage collector.
func (w *responseWriter) reset() {
	clear(w.header)
	w.status = 0
	if w.body.Cap() > 64<<10 {
		w.body = bytes.Buffer{}
	}
	w.body.Reset()
}

func (w *responseWriter) WriteHeader(status int) {
	if status < 100 || status > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(status)) // as net/http does
	}
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.body.Len() == 0 && w.header.Get("Content-Type") == "" {
		w.header["Content-Type"] = []string{http.DetectContentType(p)} // the key is canonical
	}
	return w.body.Write(p)
}

// Flush is accepted for compatibility; the response is sent when the
// handler returns.
func (w *responseWriter) Flush() {}

// frameWriter writes whole frames to the response fd, one at a time. It
// calls fd_write itself (syscall.Write), not through an os.File: writes to
// the response fd never block, so the netpoller and the fd's locks that an
// os.File would take for each frame have nothing to do.
type frameWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (o *frameWriter) write(r *abi.Response) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = abi.AppendResponse(o.buf[:0], r)
	for b := o.buf; len(b) > 0; {
		n, err := syscall.Write(abi.ResponseFD, b)
		if err != nil {
			panic("mpmlab: writing response frame: " + err.Error())
		}
		b = b[n:]
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
