package models

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// HeldConns counts the connections a server accepted and has not closed:
// not those still in its accept queue, not the clients' ends, not closed
// ones; on IPv4 and IPv6.
func TestHeldConns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("asks Linux's sock_diag")
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) { testHeldConns(t, addr) })
	}
}

func testHeldConns(t *testing.T, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	const dialed, accepted, closed = 7, 5, 2
	var clients, servers []net.Conn
	defer func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	}()
	for range dialed {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for range accepted {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, c)
	}
	for _, c := range servers[:closed] {
		c.Close()
	}
	// The kernel's tables settle at once on loopback; wait for the count
	// with a deadline all the same.
	want := accepted - closed
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := HeldConns(port)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HeldConns = %d, want %d (%d dialed, %d accepted, %d closed by the server)", n, want, dialed, accepted, closed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
