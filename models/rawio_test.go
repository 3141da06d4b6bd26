//go:build linux

package models

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// A raw socket reads and writes as net.Conn does: what was sent, all of a
// write larger than the kernel's buffers, io.EOF at the peer's close, and
// net.Conn's errors for a deadline (also one set while a read waits, as
// net/http's abortPendingRead does), a closed connection and a reset peer.
func TestRawSocketIsNetConn(t *testing.T) {
	server, client := tcpPair(t)
	s := newRawSocket(server)
	if s == nil {
		t.Fatal("a TCP connection has no raw socket")
	}
	for _, m := range []Model{Process, Thread, EventMPM, Reactor} {
		policy, _ := PolicyOf(m)
		gc := (&gateBase{w: &worker{policy: policy}}).wrap(server, nil, func() {})
		if raw := gc.sock != nil; raw != (m == Process) {
			t.Errorf("%s: a gated TCP connection reads and writes its raw socket: %v, want %v", m, raw, m == Process)
		}
	}

	// Reads: what was sent, then io.EOF once the peer closes its side.
	client.Write([]byte("hello"))
	buf := make([]byte, 64)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}

	// A write larger than the socket's buffers waits for the reader.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, _ = io.ReadAll(io.LimitReader(client, int64(len(big))))
	}()
	if n, err := s.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write of 4 MiB = %d, %v", n, err)
	}
	wg.Wait()
	if !bytes.Equal(got, big) {
		t.Fatalf("the peer read %d bytes, not the 4 MiB written", len(got))
	}

	// A deadline: net.Conn's timeout error.
	server.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := s.Read(buf)
	var ne net.Error
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("Read past its deadline: %v, want net.Conn's read timeout", err)
	}
	// A deadline set while a read waits ends it.
	server.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := s.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond) // the read is waiting (or about to: either way it must end)
	server.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read whose deadline passed while it waited: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Read did not end when its deadline was set in the past")
	}
	server.SetReadDeadline(time.Time{})

	client.Close()
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read after the peer closed = %d, %v, want io.EOF", n, err)
	}
	// Writing to a peer that is gone fails (the first write may still be
	// taken by the kernel; the reset comes back on a later one).
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = s.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	if !errors.As(werr, &oe) || oe.Op != "write" {
		t.Errorf("Write to a closed peer: %v, want net.Conn's write error", werr)
	}

	server.Close()
	if _, err := s.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read of a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write to a closed connection: %v, want net.ErrClosed", err)
	}
}

// Reading and writing a raw socket allocates nothing, as net.Conn's Read
// and Write do not: they are on every request's path.
func TestRawSocketAllocatesNothing(t *testing.T) {
	server, client := tcpPair(t)
	s := newRawSocket(server)
	buf, msg := make([]byte, 64), []byte("x")
	if n := testing.AllocsPerRun(200, func() {
		client.Write(msg)
		s.Read(buf)
	}); n != 0 {
		t.Errorf("a raw Read allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		s.Write(msg)
		client.Read(buf)
	}); n != 0 {
		t.Errorf("a raw Write allocates %v times", n)
	}
}
