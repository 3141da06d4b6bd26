package models

import (
	"io"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The client of TestPHolderSparesWakeups, in a process of its own as a
// load generator is: it sends a byte and waits for it back, as many times
// as it is told.
func init() {
	addr, n := os.Getenv("MPMLAB_HOLDP_CLIENT"), os.Getenv("MPMLAB_HOLDP_ROUNDS")
	if addr == "" {
		return
	}
	rounds, _ := strconv.Atoi(n)
	c, err := net.Dial("unix", addr)
	if err != nil {
		os.Exit(3)
	}
	b := []byte{0}
	for range rounds {
		if _, err := c.Write(b); err != nil {
			os.Exit(4)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			os.Exit(5)
		}
	}
	os.Exit(0)
}

// serveSwitches serves n rounds of a client in another process the way a
// worker serves requests: a connection's goroutine reads a byte, hands it
// to another goroutine (the guest's), takes its answer back and writes it,
// then counts a request finished (h). It returns the process's voluntary
// context switches meanwhile.
func serveSwitches(t *testing.T, h *pHolder, n int) int64 {
	path := t.TempDir() + "/s"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MPMLAB_HOLDP_CLIENT="+path, "MPMLAB_HOLDP_ROUNDS="+strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, out := make(chan byte), make(chan byte)
	go func() {
		for b := range in {
			out <- b
		}
	}()
	defer close(in)
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	for range n {
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		in <- b[0]
		b[0] = <-out
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		h.finished()
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	return after.Nvcsw - before.Nvcsw
}

// With the holder on the second P, serving wakes fewer threads to look for
// work. Each round with it starts after it let the P go (no request
// finished for a while) and so also shows it taking the P back. Rounds
// with and without alternate, and their medians are compared: a busy
// machine moves the counts from round to round.
func TestPHolderSparesWakeups(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	const n, rounds = 5000, 3
	h := startPHolder()
	var free, held []int64
	for range rounds {
		free = append(free, serveSwitches(t, nil, n))
		deadline := time.Now().Add(10 * time.Second)
		for !h.parked.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the holder kept the P with no request finishing")
			}
			time.Sleep(time.Millisecond)
		}
		held = append(held, serveSwitches(t, h, n))
	}
	t.Logf("voluntary context switches serving %d requests: %v without the holder, %v with it", n, free, held)
	if f, h := median(free), median(held); h*3 > f*2 {
		t.Errorf("the holder spared too few wake-ups: median %d with it against %d without", h, f)
	}
}

func median(v []int64) int64 {
	slices.Sort(v)
	return v[len(v)/2]
}
