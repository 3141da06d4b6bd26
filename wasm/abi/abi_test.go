package abi

import (
	"bytes"
	"encoding/binary"
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

func FuzzDecodeRequest(f *testing.F) {
	f.Add(AppendRequest(nil, &Request{Method: "GET", URI: "/", Header: http.Header{"K": {"v"}}, Body: []byte("b")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeRequest(b) // must not panic
		DecodeResponse(b)
	})
}
