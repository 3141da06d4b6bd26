// Package abi is the wire format between the mpmlab host and a guest instance.
//
// A guest is one long-lived Go program. The host writes frames to the
// guest's virtual file descriptor RequestFD and reads frames from
// ResponseFD. Every frame carries a request id, so many requests can be in
// flight in one instance at once; the guest answers them in any order.
//
// A frame is
//
//	u32 length   (of everything after this field, little endian)
//	u8  kind     (one of the Kind constants)
//	u32 id
//	... body     (see AppendRequest, AppendResponse and AppendFrame)
//
// Strings are u32 length + bytes. Headers are a u32 count of (name, value)
// pairs. This package is imported by both sides, so it uses only the
// standard library and builds for wasip1, js and the host.
//
// # Streams
//
// A request is a stream of frames both ways, as a connection is under
// net/http; no frame is ever larger than a few tens of KiB, so neither
// side holds a whole body:
//
//   - The host opens it with a KindRequest frame: the request's head, and
//     its body inline when the host already holds all of it (a small body
//     of known length). Otherwise Request.Stream is set, and the guest
//     pulls the body: a KindRead frame asks for at most N bytes, the host
//     answers with one KindData frame (1 to N bytes) or a KindEOF frame
//     (Data: the error text, empty for a clean end). The host reads the
//     client's body only when asked, so "Expect: 100-continue" is answered
//     only once the handler reads the body, as under net/http.
//   - The guest answers a handler that returned without flushing and
//     whose body is small with one KindResponse frame: the status, the
//     header as it was at WriteHeader, the body, the trailers. That is the
//     common case, and costs one frame each way, as a whole-body protocol
//     would.
//   - Otherwise (Flush, a large body, Hijack) the guest sends KindHead (the
//     status and the header as at WriteHeader), KindData frames (the body
//     as written; FlagFlush on the frame that ends a Flush), then KindEnd
//     (the trailers) when the handler returns. KindInterim frames (1xx
//     responses: 103 Early Hints) may come before the head.
//   - Flow control: the guest may have at most Window bytes of KindData
//     that the host has not acknowledged; the host acknowledges them with
//     KindWindow once they are written to the client's connection. A slow
//     client therefore parks the handler's goroutine in the guest, and the
//     memory of a response in flight is bounded whatever its size.
//   - KindCancel tells the guest that the client went away (or the host
//     gave up on the stream): it cancels the request's context and fails
//     the handler's later reads and writes, as a closed connection would.
//     The guest still ends the stream (KindResponse or KindEnd) once its
//     handler returns.
//   - KindHijack: the handler took the connection (http.Hijacker). From
//     then on the guest's KindData frames are raw bytes for the client's
//     connection, its KindRead frames ask for the client's bytes, and
//     KindEnd closes the connection.
//
// A frame for an id the receiver does not know (a stream that has ended) is
// ignored.
package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unsafe"
)

// Virtual file descriptors the host provides to every guest instance.
const (
	RequestFD  = 3 // host → guest request frames; non-blocking, polled by the Go netpoller
	ResponseFD = 4 // guest → host response frames; writes never block
	// WakeFD carries host → guest wake-ups, Wake records: a guest.Pool task
	// finished on the worker's thread pool, or a guest.Yield may go on.
	// Non-blocking, polled by the Go netpoller; never at EOF.
	WakeFD = 5
)

// Wake is one record on WakeFD: Token is the guest's own, given with the
// host call that asked for the wake-up (pool_submit, yield); Status is 0.
// It is WakeSize bytes: u32 token, u32 status, little endian. The host
// writes whole records only.
type Wake struct {
	Token  uint32
	Status uint32
}

// Work kinds of the pool_submit host call: what a guest.Pool task does on
// a pool thread.
const (
	WorkCompute = 1 // burn CPU (guest.Pool.Compute)
	WorkBlock   = 2 // hold the thread, asleep (guest.Pool.Block)
)

// WakeSize is the size of a Wake record.
const WakeSize = 8

// AppendWake appends w's record to dst.
func AppendWake(dst []byte, w Wake) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, w.Token)
	return binary.LittleEndian.AppendUint32(dst, w.Status)
}

// DecodeWake decodes the record at the start of b (at least WakeSize bytes).
func DecodeWake(b []byte) Wake {
	return Wake{Token: binary.LittleEndian.Uint32(b), Status: binary.LittleEndian.Uint32(b[4:])}
}

// Frame kinds. Host → guest: KindRequest, KindData, KindEOF, KindWindow,
// KindCancel. Guest → host: KindResponse, KindInterim, KindHead, KindData,
// KindEnd, KindRead, KindHijack. See the package doc, "Streams".
const (
	KindRequest  byte = 1  // a request's head (Request)
	KindResponse byte = 2  // a whole response (Response); ends the stream
	KindData     byte = 3  // body or connection bytes (Frame.Data, Frame.Flags)
	KindEOF      byte = 4  // the request body (connection) ended; Data: error text or empty
	KindWindow   byte = 5  // the host wrote N more bytes of the guest's KindData
	KindCancel   byte = 6  // the client went away: cancel the request's context
	KindInterim  byte = 7  // a 1xx response: N status, Header
	KindHead     byte = 8  // the response's head: N status, Header
	KindEnd      byte = 9  // the response ended: Trailer; ends the stream
	KindRead     byte = 10 // the guest wants at most N more bytes of input
	KindHijack   byte = 11 // the handler took the connection
)

// Flags of a KindData frame.
const (
	FlagFlush byte = 1 // the handler flushed: send everything written so far
)

// Window is how many bytes of KindData a guest may send for one request
// before the host acknowledges them (KindWindow).
const Window = 256 << 10

// MaxData is the most bytes one KindData frame carries, and the most a
// KindRead may ask for.
const MaxData = 64 << 10

// MaxFrame bounds one frame, body included.
const MaxFrame = 16 << 20

const headerSize = 4 + 1 + 4

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("abi: frame exceeds 16 MiB")

// Request is an HTTP request as the guest sees it.
type Request struct {
	ID         uint32
	Method     string
	URI        string // the request target, e.g. "/cpu?ms=300"
	Host       string
	RemoteAddr string
	Header     http.Header
	// Body is the whole body when the host sends it inline; with Stream
	// the guest reads it with KindRead frames instead.
	Body []byte
	// Proto is "HTTP/1.1" or "HTTP/1.0" ("" reads as HTTP/1.1).
	Proto string
	// ContentLength is net/http's Request.ContentLength: -1 when unknown
	// (a chunked body).
	ContentLength int64
	// TransferEncoding is net/http's Request.TransferEncoding.
	TransferEncoding []string
	// Close is net/http's Request.Close.
	Close bool
	// Stream says that the body is read with KindRead frames.
	Stream bool
}

// Request flags (one byte).
const (
	reqClose  = 1
	reqStream = 2
)

// Response is a guest's whole answer to the request with the same ID (a
// KindResponse frame), or the host's assembly of a streamed one.
type Response struct {
	ID     uint32
	Status int
	Header http.Header
	Body   []byte
	// Trailer holds the trailers the handler set: declared ones (the
	// "Trailer" header) and those named with http.TrailerPrefix, as net/http
	// finds them in the handler's header when it returns.
	Trailer http.Header
}

// Frame is any frame of a stream but KindRequest; the fields a kind does
// not use are zero.
type Frame struct {
	Kind byte
	ID   uint32
	// N is the status (KindInterim, KindHead, KindResponse) or a byte count
	// (KindWindow, KindRead).
	N      uint32
	Flags  byte        // KindData: FlagFlush
	Header http.Header // KindInterim, KindHead, KindResponse
	// HeaderWire, when not nil, is sent in place of Header: a header
	// encoded beforehand by AppendHeader (the guest's SDK takes a
	// response's header as it is at WriteHeader so, with no copy of the
	// map). Decoding never sets it.
	HeaderWire []byte
	Trailer    http.Header // KindEnd, KindResponse
	// Data is the bytes of KindData, the body of KindResponse, the error
	// text of KindEOF.
	Data []byte
}

// AppendRequest appends r as one frame to dst.
func AppendRequest(dst []byte, r *Request) []byte {
	start := len(dst)
	dst = appendHeader(dst, KindRequest, r.ID)
	dst = appendString(dst, r.Method)
	dst = appendString(dst, r.URI)
	dst = appendString(dst, r.Host)
	dst = appendString(dst, r.RemoteAddr)
	dst = appendHTTPHeader(dst, r.Header)
	dst = appendBytes(dst, r.Body)
	dst = appendString(dst, r.Proto)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.ContentLength))
	var flags byte
	if r.Close {
		flags |= reqClose
	}
	if r.Stream {
		flags |= reqStream
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.TransferEncoding)))
	for _, te := range r.TransferEncoding {
		dst = appendString(dst, te)
	}
	return finish(dst, start)
}

// AppendResponse appends r as one KindResponse frame to dst.
func AppendResponse(dst []byte, r *Response) []byte {
	return AppendFrame(dst, &Frame{Kind: KindResponse, ID: r.ID, N: uint32(r.Status), Header: r.Header, Trailer: r.Trailer, Data: r.Body})
}

// AppendFrame appends f as one frame to dst. Every kind but KindRequest has
// the same layout: u32 N, u8 flags, header, trailer, bytes.
func AppendFrame(dst []byte, f *Frame) []byte {
	start := len(dst)
	dst = appendHeader(dst, f.Kind, f.ID)
	dst = binary.LittleEndian.AppendUint32(dst, f.N)
	dst = append(dst, f.Flags)
	if f.HeaderWire != nil {
		dst = append(dst, f.HeaderWire...)
	} else {
		dst = appendHTTPHeader(dst, f.Header)
	}
	dst = appendHTTPHeader(dst, f.Trailer)
	dst = appendBytes(dst, f.Data)
	return finish(dst, start)
}

// Split returns the first complete frame in buf and what follows it.
// ok is false when buf does not yet hold a whole frame.
func Split(buf []byte) (frame, rest []byte, ok bool, err error) {
	if len(buf) < 4 {
		return nil, buf, false, nil
	}
	n := binary.LittleEndian.Uint32(buf)
	if n > MaxFrame {
		return nil, buf, false, ErrFrameTooLarge
	}
	if uint32(len(buf)-4) < n {
		return nil, buf, false, nil
	}
	return buf[:4+n], buf[4+n:], true, nil
}

// ReadFrame reads one whole frame from r into buf (grown as needed) and
// returns it.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, ErrFrameTooLarge
	}
	if cap(buf) < int(4+n) {
		buf = make([]byte, 0, 4+n)
	}
	buf = append(buf, hdr[:]...)
	buf = buf[:4+n]
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// Kind reports a whole frame's kind and id.
func Kind(frame []byte) (kind byte, id uint32, err error) {
	if len(frame) < headerSize {
		return 0, 0, errors.New("abi: short frame")
	}
	return frame[4], binary.LittleEndian.Uint32(frame[5:]), nil
}

// DecodeRequest decodes a whole request frame (as Split or ReadFrame
// return it: its length field must be its size). The request keeps nothing
// of frame, so frame may be reused afterwards: its strings and body share
// one copy of the frame (see decoder).
func DecodeRequest(frame []byte) (*Request, error) {
	d := decoder{b: frame}
	kind, id := d.header()
	if d.err == nil && kind != KindRequest {
		return nil, fmt.Errorf("abi: frame kind %d, want request", kind)
	}
	r := &Request{ID: id}
	r.Method = d.string()
	r.URI = d.string()
	r.Host = d.string()
	r.RemoteAddr = d.string()
	r.Header = d.httpHeader()
	r.Body = d.bytes()
	r.Proto = d.string()
	r.ContentLength = int64(d.u64())
	flags := d.u8()
	r.Close, r.Stream = flags&reqClose != 0, flags&reqStream != 0
	if n := int(d.u32()); d.err == nil && n > 0 {
		if n > (len(d.b)-d.off)/4 {
			d.err = errShort
		} else {
			r.TransferEncoding = make([]string, n)
			for i := range r.TransferEncoding {
				r.TransferEncoding[i] = d.string()
			}
		}
	}
	return r, d.done()
}

// DecodeResponse decodes a whole KindResponse frame, keeping nothing of it
// (as DecodeRequest).
func DecodeResponse(frame []byte) (*Response, error) {
	f, err := DecodeFrame(frame)
	if err != nil {
		return nil, err
	}
	if f.Kind != KindResponse {
		return nil, fmt.Errorf("abi: frame kind %d, want response", f.Kind)
	}
	return &Response{ID: f.ID, Status: int(f.N), Header: f.Header, Body: f.Data, Trailer: f.Trailer}, nil
}

// DecodeFrame decodes a whole frame of any kind but KindRequest, keeping
// nothing of it (as DecodeRequest).
func DecodeFrame(frame []byte) (*Frame, error) {
	d := decoder{b: frame}
	kind, id := d.header()
	if d.err == nil && (kind == KindRequest || kind == 0 || kind > KindHijack) {
		return nil, fmt.Errorf("abi: frame kind %d is not a stream frame", kind)
	}
	f := &Frame{Kind: kind, ID: id}
	f.N = d.u32()
	f.Flags = d.u8()
	f.Header = d.httpHeader()
	f.Trailer = d.httpHeader()
	f.Data = d.bytes()
	return f, d.done()
}

func appendHeader(dst []byte, kind byte, id uint32) []byte {
	dst = append(dst, 0, 0, 0, 0, kind)
	return binary.LittleEndian.AppendUint32(dst, id)
}

func finish(dst []byte, start int) []byte {
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendHeader appends h to dst as a frame carries it, for
// Frame.HeaderWire.
func AppendHeader(dst []byte, h http.Header) []byte { return appendHTTPHeader(dst, h) }

func appendHTTPHeader(dst []byte, h http.Header) []byte {
	// One pass over the map: the count is written once it is known.
	at, n := len(dst), 0
	dst = append(dst, 0, 0, 0, 0)
	for k, vs := range h {
		for _, v := range vs {
			dst = appendString(dst, k)
			dst = appendString(dst, v)
		}
		n += len(vs)
	}
	binary.LittleEndian.PutUint32(dst[at:], uint32(n))
	return dst
}

// decoder reads the fields of one frame. Once the frame's header checks
// out it works on a private copy of the frame, and the strings and byte
// slices it returns point into that copy: one allocation for all of a
// request's strings and its body, where a copy each would cost one
// allocation per field and per header line. That matters most in the
// guest, where an allocation costs ten times what it costs natively. The
// copy is never written, so the strings stay immutable; byte slices are
// capped at their length, so an append cannot reach the next field.
type decoder struct {
	b   []byte
	off int
	err error
}

var errShort = errors.New("abi: truncated frame")

func (d *decoder) header() (byte, uint32) {
	if len(d.b) < headerSize {
		d.err = errShort
		return 0, 0
	}
	if n := binary.LittleEndian.Uint32(d.b); uint64(n) != uint64(len(d.b)-4) {
		d.err = fmt.Errorf("abi: frame length says %d bytes, the frame has %d", n, len(d.b)-4)
		return 0, 0
	}
	d.off = headerSize
	d.b = append([]byte(nil), d.b...)
	return d.b[4], binary.LittleEndian.Uint32(d.b[5:])
}

func (d *decoder) u32() uint32 {
	if d.err != nil || len(d.b)-d.off < 4 {
		d.err = errShort
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64() uint64 {
	if d.err != nil || len(d.b)-d.off < 8 {
		d.err = errShort
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *decoder) u8() byte {
	if d.err != nil || len(d.b)-d.off < 1 {
		d.err = errShort
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) raw() []byte {
	n := int(d.u32())
	if d.err != nil || n < 0 || len(d.b)-d.off < n {
		d.err = errShort
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) string() string {
	v := d.raw()
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

func (d *decoder) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}

func (d *decoder) httpHeader() http.Header {
	n := int(d.u32())
	if d.err != nil || n > (len(d.b)-d.off)/8 {
		d.err = errShort
		return nil
	}
	if n == 0 {
		return nil
	}
	h := make(http.Header, n)
	vals := make([]string, n) // one backing array for every value
	for i := 0; i < n && d.err == nil; i++ {
		k := d.string()
		vals[i] = d.string()
		if vs, ok := h[k]; ok {
			h[k] = append(vs, vals[i]) // a repeated field: its own array
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	return h
}

func (d *decoder) done() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("abi: %d trailing bytes in frame", len(d.b)-d.off)
	}
	return nil
}
