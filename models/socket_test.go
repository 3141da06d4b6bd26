package models

import (
	"errors"
	"net"
	"testing"
	"time"
)

// socketBacklog on a real listening socket shared by two "processes" (two
// listeners on one socket, as the workers have): waitPending returns when a
// connection is pending and leaves it there; tryAccept takes it or, once
// the other took it, returns errNotPending instead of waiting; Close ends
// a waitPending.
func TestSocketBacklog(t *testing.T) {
	f, addr, err := listen("127.0.0.1:0", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bs [2]*socketBacklog
	for i := range bs {
		ln, err := net.FileListener(f)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		bs[i] = newSocketBacklog(ln)
		defer bs[i].Close()
	}
	if _, err := bs[0].tryAccept(); !errors.Is(err, errNotPending) {
		t.Fatalf("tryAccept on an empty backlog: %v, want errNotPending", err)
	}
	pending := make(chan error, 2)
	for _, b := range bs {
		go func() { pending <- b.waitPending() }()
	}
	select {
	case err := <-pending:
		t.Fatalf("waitPending returned (%v) with no connection pending", err)
	case <-time.After(50 * time.Millisecond):
	}
	client, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for range bs { // both see it: neither took it
		select {
		case err := <-pending:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waitPending did not return with a connection pending")
		}
	}
	c, err := bs[1].tryAccept()
	if err != nil {
		t.Fatalf("tryAccept with a connection pending: %v", err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != client.LocalAddr().String() {
		t.Errorf("accepted %v, want the client %v", c.RemoteAddr(), client.LocalAddr())
	}
	if _, err := bs[0].tryAccept(); !errors.Is(err, errNotPending) {
		t.Errorf("tryAccept after the other took it: %v, want errNotPending", err)
	}
	go func() { pending <- bs[0].waitPending() }()
	bs[0].Close()
	select {
	case err := <-pending:
		if err == nil {
			t.Error("waitPending on a closed backlog returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Error("Close did not end waitPending")
	}
}
