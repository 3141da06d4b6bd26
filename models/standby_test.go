package models

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standbyConfig is a prefork pool of the hello example with real workers,
// compiled into a cache of its own.
func standbyConfig(t *testing.T, startServers int) Config {
	t.Helper()
	wasm := guestWasm(t, "hello")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MPMLAB_REAL_WORKER", "1")
	cacheDir := t.TempDir()
	if err := Precompile(context.Background(), cacheDir, wasm); err != nil {
		t.Fatal(err)
	}
	return Config{Model: Process, StartServers: startServers, MinSpare: -1, Wasm: wasm, Addr: "127.0.0.1:0", CacheDir: cacheDir, Executable: exe}
}

// standbyPIDs lists the pids of the workers waiting in sb.
func standbyPIDs(sb *Standby) []int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var pids []int
	for _, w := range sb.waiting {
		pids = append(pids, w.cmd.Process.Pid)
	}
	return pids
}

// waitGone waits up to a minute until no process has pid (reaped).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still exists a minute after it was stopped", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Workers prepared ahead are the ones Start runs first: the same
// processes serve, and the log says they started ahead. A worker spawned
// later (here a replacement for one killed) starts cold, although a
// prepared one still waits: only the start is ahead.
func TestStandbyAdoptedAtStart(t *testing.T) {
	cfg := standbyConfig(t, 2)
	sb := NewStandby()
	defer sb.Close()
	prep := cfg
	prep.StartServers = 3 // one more than Start takes
	if err := sb.Prepare(context.Background(), prep); err != nil {
		t.Fatal(err)
	}
	waiting := standbyPIDs(sb)
	if len(waiting) != 3 {
		t.Fatalf("%d workers wait after Prepare of 3 start servers, want 3", len(waiting))
	}

	log := newLogLines()
	cfg.Standby, cfg.Logf = sb, log.logf
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pids := s.PIDs()
	if len(pids) != 2 || !slices.Contains(waiting, pids[0]) || !slices.Contains(waiting, pids[1]) {
		t.Fatalf("Start runs pids %v, want two of the prepared %v", pids, waiting)
	}
	if n := strings.Count(log.String(), "(started ahead)"); n != 2 {
		t.Fatalf("the log says %d workers started ahead, want 2:\n%s", n, log)
	}
	left := standbyPIDs(sb)
	if len(left) != 1 || slices.Contains(pids, left[0]) {
		t.Fatalf("after Start, %v wait, want the one prepared worker Start did not take", left)
	}
	for range 4 {
		status, worker := get(t, s.URL()+"/")
		if status != 200 || (!strings.Contains(worker, "pid "+strconv.Itoa(pids[0])) && !strings.Contains(worker, "pid "+strconv.Itoa(pids[1]))) {
			t.Fatalf("got %d from %q, want 200 from one of the adopted workers %v", status, worker, pids)
		}
	}

	syscall.Kill(pids[0], syscall.SIGKILL)
	m := log.waitNth(t, regexp.MustCompile(`^spawned process \d \(pid (\d+)\)(.*)$`), 3, time.Minute)
	if m[2] != "" || m[1] == strconv.Itoa(left[0]) {
		t.Fatalf("the replacement of a killed worker was %q: want a cold start, not the waiting pid %d", m[0], left[0])
	}
	if got := standbyPIDs(sb); !slices.Equal(got, left) {
		t.Fatalf("after the replacement %v wait, want %v still", got, left)
	}
}

// Prepare of another module (here another memory limit) stops the workers
// waiting for the last, and Close stops the rest; both reap them. A
// waiting worker that dies leaves the pool, and Start spawns cold.
func TestStandbyDropsAndReaps(t *testing.T) {
	cfg := standbyConfig(t, 1)
	sb := NewStandby()
	if err := sb.Prepare(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	first := standbyPIDs(sb)
	other := cfg
	other.MemoryLimit = 128 << 20
	if err := sb.Prepare(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	second := standbyPIDs(sb)
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] {
		t.Fatalf("waiting: %v, then %v after a Prepare of another memory limit; want one worker each, not the same", first, second)
	}
	waitGone(t, first[0])

	// The waiting worker dies: it leaves the pool, and a Start of its
	// key spawns cold.
	syscall.Kill(second[0], syscall.SIGKILL)
	waitGone(t, second[0])
	deadline := time.Now().Add(time.Minute)
	for sb.Waiting() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a dead standby worker is still in the pool after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	log := newLogLines()
	other.Standby, other.Logf = sb, log.logf
	s, err := Start(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, s.URL()+"/"); status != 200 {
		t.Fatalf("status %d", status)
	}
	s.Close()
	if strings.Contains(log.String(), "started ahead") {
		t.Fatalf("a worker started ahead with none waiting:\n%s", log)
	}

	if err := sb.Prepare(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	third := standbyPIDs(sb)
	sb.Close()
	for _, pid := range third {
		if !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			t.Fatalf("pid %d is there after Close, which reaps the waiting workers", pid)
		}
	}
	if err := sb.Prepare(context.Background(), cfg); err == nil {
		t.Fatal("Prepare after Close succeeded")
	}
}
