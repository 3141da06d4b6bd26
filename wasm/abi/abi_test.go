package abi

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"reflect"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	in := &Request{ID: 7, Method: "POST", URI: "/cpu?ms=3", Host: "x", RemoteAddr: "127.0.0.1:5",
		Header: http.Header{"A": {"1", "2"}, "B": {""}}, Body: []byte("hello")}
	frame := AppendRequest([]byte("junk"), in)[4:]
	f, rest, ok, err := Split(append(frame, 9))
	if !ok || err != nil || !bytes.Equal(rest, []byte{9}) {
		t.Fatalf("Split: ok=%v err=%v rest=%v", ok, err, rest)
	}
	out, err := DecodeRequest(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
	if _, err := DecodeResponse(f); err == nil {
		t.Fatal("decoding a request as a response succeeded")
	}
}

func TestResponseRoundTrip(t *testing.T) {
	in := &Response{ID: 1 << 31, Status: 502, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("x")}
	frame := AppendResponse(nil, in)
	out, err := ReadFrame(bytes.NewReader(frame), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResponse(out)
	if err != nil || !reflect.DeepEqual(in, got) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestTruncatedFrames(t *testing.T) {
	frame := AppendRequest(nil, &Request{Method: "GET", URI: "/", Header: http.Header{"K": {"v"}}})
	for n := 0; n < len(frame); n++ {
		if _, _, ok, _ := Split(frame[:n]); ok {
			t.Fatalf("Split accepted %d of %d bytes", n, len(frame))
		}
		if n > headerSize {
			bad := append([]byte(nil), frame[:n]...)
			bad[0] = byte(n - 4)
			if _, err := DecodeRequest(bad); err == nil {
				t.Fatalf("DecodeRequest accepted a frame cut at %d", n)
			}
		}
	}
	// A frame whose length field is not its size (a guest's bad frame, a
	// caller's bug) is refused, not decoded from what follows the field.
	for _, delta := range []int{-1, 1, 1 << 20} {
		bad := append([]byte(nil), frame...)
		binary.LittleEndian.PutUint32(bad, uint32(len(frame)-4+delta))
		if _, err := DecodeRequest(bad); err == nil {
			t.Errorf("DecodeRequest accepted a length field %+d off", delta)
		}
	}
	huge := []byte{0xff, 0xff, 0xff, 0xff}
	if _, _, _, err := Split(huge); err != ErrFrameTooLarge {
		t.Fatalf("Split(huge) err = %v", err)
	}
}

// The fuzz targets' seed corpus is testdata/fuzz/<target>: whole frames of
// each kind, a frame of the other kind, truncated and oversized ones. `make
// fuzz-smoke` runs each target for a few seconds.

// FuzzDecodeRequest: DecodeRequest never panics on any bytes (the host
// writes requests, but the guest decodes whatever its fd holds), and a
// frame it accepts is one whole frame that encodes back to the same request.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		checkWhole(t, b, KindRequest, r.ID)
		again, err := DecodeRequest(AppendRequest(nil, r))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", r, again, err)
		}
		if _, err := DecodeResponse(b); err == nil {
			t.Fatal("a request frame also decodes as a response")
		}
	})
}

// FuzzDecodeResponse: DecodeResponse never panics on any bytes (a guest
// may write anything to ResponseFD), and a frame it accepts is one whole
// frame that encodes back to the same response.
func FuzzDecodeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		checkWhole(t, b, KindResponse, r.ID)
		again, err := DecodeResponse(AppendResponse(nil, r))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", r, again, err)
		}
	})
}

// checkWhole checks that Split and Kind agree with a decoded frame: it is
// exactly one frame, of that kind and id.
func checkWhole(t *testing.T, b []byte, kind byte, id uint32) {
	t.Helper()
	frame, rest, ok, err := Split(b)
	if !ok || err != nil || len(frame) != len(b) || len(rest) != 0 {
		t.Fatalf("decoded a frame that Split does not see whole (ok %v, err %v, %d of %d bytes)", ok, err, len(frame), len(b))
	}
	if k, i, err := Kind(b); k != kind || i != id || err != nil {
		t.Fatalf("Kind: %d %d %v, want %d %d", k, i, err, kind, id)
	}
}

// FuzzSplit: on any byte stream (the host splits what a guest writes),
// Split and ReadFrame find the same frames and stop at the same point.
func FuzzSplit(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var split [][]byte
		rest := b
		var splitErr error
		for {
			frame, r, ok, err := Split(rest)
			if err != nil {
				splitErr = err
				break
			}
			if !ok {
				break
			}
			if len(frame) < 4 || len(r) != len(rest)-len(frame) {
				t.Fatalf("Split: frame of %d bytes, %d of %d left", len(frame), len(r), len(rest))
			}
			split = append(split, frame)
			rest = r
		}
		rd := bytes.NewReader(b)
		var buf []byte
		for i := 0; ; i++ {
			frame, err := ReadFrame(rd, buf)
			if err != nil {
				switch {
				case i != len(split):
					t.Fatalf("ReadFrame stopped after %d frames (%v), Split after %d", i, err, len(split))
				case splitErr != nil && err != splitErr:
					t.Fatalf("ReadFrame: %v, Split: %v", err, splitErr)
				case splitErr == nil && len(rest) == 0 && err != io.EOF:
					t.Fatalf("ReadFrame at the end: %v, want EOF", err)
				case splitErr == nil && len(rest) > 0 && err != io.ErrUnexpectedEOF:
					t.Fatalf("ReadFrame on a partial frame of %d bytes: %v", len(rest), err)
				}
				return
			}
			if i >= len(split) || !bytes.Equal(frame, split[i]) {
				t.Fatalf("frame %d: ReadFrame and Split differ", i)
			}
			buf = frame
		}
	})
}

func TestWakeRoundTrip(t *testing.T) {
	b := AppendWake([]byte("x"), Wake{Token: 0xDEADBEEF, Status: 2})
	if len(b) != 1+WakeSize {
		t.Fatalf("record of %d bytes, want %d", len(b)-1, WakeSize)
	}
	if w := DecodeWake(b[1:]); w != (Wake{Token: 0xDEADBEEF, Status: 2}) {
		t.Fatalf("decoded %+v", w)
	}
}

func TestStreamFieldsRoundTrip(t *testing.T) {
	in := &Request{ID: 3, Method: "POST", URI: "/up", Header: http.Header{"A": {"1"}}, Proto: "HTTP/1.0",
		ContentLength: -1, TransferEncoding: []string{"chunked"}, Close: true, Stream: true}
	out, err := DecodeRequest(AppendRequest(nil, in))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v, %v; want %+v", out, err, in)
	}
	for _, f := range []*Frame{
		{Kind: KindData, ID: 9, Flags: FlagFlush, Data: []byte("chunk")},
		{Kind: KindHead, ID: 9, N: 404, Header: http.Header{"Trailer": {"X-Sum"}}},
		{Kind: KindInterim, ID: 9, N: 103, Header: http.Header{"Link": {"</a.css>; rel=preload"}}},
		{Kind: KindEnd, ID: 9, Trailer: http.Header{"X-Sum": {"42"}}},
		{Kind: KindRead, ID: 9, N: MaxData},
		{Kind: KindWindow, ID: 9, N: 1234},
		{Kind: KindEOF, ID: 9, Data: []byte("http: request body too large")},
		{Kind: KindCancel, ID: 9},
		{Kind: KindHijack, ID: 9},
	} {
		got, err := DecodeFrame(AppendFrame(nil, f))
		if err != nil || !reflect.DeepEqual(f, got) {
			t.Errorf("kind %d: got %+v, %v; want %+v", f.Kind, got, err, f)
		}
	}
	if _, err := DecodeFrame(AppendRequest(nil, in)); err == nil {
		t.Error("DecodeFrame decoded a request frame")
	}
}

// A header encoded beforehand (Frame.HeaderWire) makes the same frame as
// the header itself, and wins over Header.
func TestHeaderWire(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}, "X-Two": {"a", "b"}}
	want := &Frame{Kind: KindResponse, ID: 4, N: 201, Header: h, Trailer: http.Header{"X-Sum": {"1"}}, Data: []byte("hi")}
	pre := *want
	pre.Header, pre.HeaderWire = http.Header{"X-Ignored": {"1"}}, AppendHeader(nil, h)
	got, err := DecodeFrame(AppendFrame(nil, &pre))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	empty := &Frame{Kind: KindHead, ID: 4, N: 200, HeaderWire: AppendHeader(nil, nil)}
	if got, err := DecodeFrame(AppendFrame(nil, empty)); err != nil || len(got.Header) != 0 {
		t.Fatalf("empty header: got %+v, %v", got, err)
	}
}
