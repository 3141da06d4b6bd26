package models

import (
	"context"
	"errors"
	"fmt"
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
// processes serve, and the log says they started ahead. Those Start does
// not take are stopped, and none is started while it runs: they would share
// its workers' machine code (their PSS) and take its CPU. A worker
// spawned later (here a replacement for one killed) starts cold, even with
// one waiting: only the start is ahead.
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
	if left := standbyPIDs(sb); len(left) != 0 {
		t.Fatalf("after Start adopted its workers, %v wait, want none", left)
	}
	for _, pid := range waiting {
		if !slices.Contains(pids, pid) {
			waitGone(t, pid)
		}
	}
	for range 4 {
		status, worker := get(t, s.URL()+"/")
		if status != 200 || (!strings.Contains(worker, "pid "+strconv.Itoa(pids[0])) && !strings.Contains(worker, "pid "+strconv.Itoa(pids[1]))) {
			t.Fatalf("got %d from %q, want 200 from one of the adopted workers %v", status, worker, pids)
		}
	}
	if err := sb.Prepare(context.Background(), prep); err != nil || sb.Waiting() != 0 {
		t.Fatalf("Prepare while a supervisor of the module runs: %v, %d waiting; want nothing started", err, sb.Waiting())
	}

	// One waits nonetheless (put there by hand): the replacement of a
	// killed worker starts cold all the same.
	sb.mu.Lock()
	w, err := sb.spawnLocked(s.standbyKey)
	if err == nil {
		sb.waiting = append(sb.waiting, w)
	}
	sb.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	m := log.waitNth(t, regexp.MustCompile(`^spawned process \d \(pid (\d+)\)(.*)$`), 3, time.Minute)
	if m[2] != "" || m[1] == strconv.Itoa(w.cmd.Process.Pid) {
		t.Fatalf("the replacement of a killed worker was %q: want a cold start, not the waiting pid %d", m[0], w.cmd.Process.Pid)
	}
	if got := standbyPIDs(sb); !slices.Equal(got, []int{w.cmd.Process.Pid}) {
		t.Fatalf("after the replacement %v wait, want [%d] still", got, w.cmd.Process.Pid)
	}

	s.Close()
	if err := sb.Prepare(context.Background(), prep); err != nil || sb.Waiting() != 3 {
		t.Fatalf("Prepare once the supervisor closed: %v, %d waiting; want 3", err, sb.Waiting())
	}
}

// A waiting worker holds its loaded module, not the garbage loading it
// made: no collection runs in a process that allocates nothing, so
// without a release it would keep about 11 MB more resident for as long as
// it waits (measured: 22.6 MB of anonymous memory against 11.1–11.4).
func TestStandbyHoldsNoLoadGarbage(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no smaps_rollup here")
	}
	cfg := standbyConfig(t, 2)
	sb := NewStandby()
	defer sb.Close()
	if err := sb.Prepare(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	const most = 16 << 10 // KiB of anonymous memory
	for _, pid := range standbyPIDs(sb) {
		anon := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Anonymous:")
		if anon <= 0 || anon > most {
			t.Errorf("waiting worker %d holds %d KiB of anonymous memory, want at most %d: its load's garbage", pid, anon, most)
		}
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
