package models

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// The supervisor tests start this test binary as their worker: with
// MPMLAB_FAKE_WORKER set, TestMain plays a worker that speaks the event
// protocol and does what the variable says; with MPMLAB_REAL_WORKER set, it
// is a real one (RunWorker), as "mpmlab worker" is.
func TestMain(m *testing.M) {
	if how := os.Getenv("MPMLAB_FAKE_WORKER"); how != "" && os.Getenv(workerSpecEnv) != "" {
		os.Exit(fakeWorker(how))
	}
	if os.Getenv("MPMLAB_REAL_WORKER") != "" && os.Getenv(workerSpecEnv) != "" {
		RunWorker() // returns only if the worker could not start
		os.Exit(exitSetup)
	}
	os.Exit(m.Run())
}

// fakeWorker is a worker process: "chatty-crash" says it is ready, then
// writes about 900 KiB of guest output and its exit event into the event
// pipe (enlarged to hold them all) and exits at once, before the supervisor
// can have read them.
func fakeWorker(how string) int {
	f := os.NewFile(eventFD, "events")
	enc := json.NewEncoder(f)
	switch how {
	case "busy":
		return busyWorker(enc)
	case "guard-kill":
		return guardKillWorker(enc)
	case "garbage":
		f.WriteString("this is not an event\n")
		enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventReady})
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		return exitRetired
	}
	enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventReady})
	if how != "chatty-crash" {
		return exitSetup
	}
	const fSetPipeSize = 1031 // F_SETPIPE_SZ
	syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSize, 1<<20)
	var batch strings.Builder
	line := strings.Repeat("o", 60)
	for i := range 9000 {
		b, _ := json.Marshal(stream.Event{V: stream.SchemaVersion, Kind: stream.EventLog, Stream: "stdout", Text: fmt.Sprint(i, line)})
		batch.Write(b)
		batch.WriteByte('\n')
	}
	f.WriteString(batch.String())
	enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventExit, Cause: "loop 0 crashed: panic: after output", Status: exitCrash})
	return exitCrash
}

// busyWorker is a worker process whose lane is busy from the start: it
// writes its scoreboard row, and nothing else but ready and heartbeats.
// SIGUSR1 makes its lane idle, SIGUSR2 busy again; SIGTERM ends it.
func busyWorker(enc *json.Encoder) int {
	var spec workerSpec
	if err := json.Unmarshal([]byte(os.Getenv(workerSpecEnv)), &spec); err != nil {
		return exitSetup
	}
	row, err := mapBoardRow(os.NewFile(boardFD, "scoreboard"), spec.Lanes)
	if err != nil {
		return exitSetup
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM)
	row.lanes[0].Store(uint32(laneSending))
	enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventReady})
	go func() {
		for range time.Tick(heartbeatInterval) {
			enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventBeat})
		}
	}()
	for s := range sig {
		switch s {
		case syscall.SIGUSR1:
			row.lanes[0].Store(uint32(laneIdle))
		case syscall.SIGUSR2:
			row.lanes[0].Store(uint32(laneSending))
		default:
			return exitRetired
		}
	}
	return exitRetired
}

// guardKillWorker is a worker whose lane's runaway guard comes due at
// once, then kills the process as the kernel timer would (SIGKILL).
func guardKillWorker(enc *json.Encoder) int {
	var spec workerSpec
	if err := json.Unmarshal([]byte(os.Getenv(workerSpecEnv)), &spec); err != nil {
		return exitSetup
	}
	row, err := mapBoardRow(os.NewFile(boardFD, "scoreboard"), spec.Lanes)
	if err != nil {
		return exitSetup
	}
	enc.Encode(stream.Event{V: stream.SchemaVersion, Kind: stream.EventReady})
	row.guards[0].Store(time.Now().UnixNano())
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// A worker killed by SIGKILL is said to be killed by its runaway guard
// only when a guard was due; any other SIGKILL (the OOM killer, kill -9)
// is named as coming from outside mpmlab.
func TestSIGKILLCause(t *testing.T) {
	for _, c := range []struct{ worker, cause string }{
		{"guard-kill", "killed by its runaway guard"},
		{"busy", "killed by SIGKILL from outside mpmlab"}, // killed by the test
	} {
		t.Run(c.worker, func(t *testing.T) {
			events := make(chan stream.Event, 64)
			startFake(t, c.worker, Config{Model: Reactor, Trace: true,
				OnEvent: func(ev stream.Event) {
					if ev.Kind == stream.EventSpawn || ev.Kind == stream.EventExit {
						select {
						case events <- ev:
						default:
						}
					}
				},
			})
			timeout := time.After(10 * time.Second)
			for {
				select {
				case ev := <-events:
					if ev.Kind == stream.EventSpawn && c.worker == "busy" {
						syscall.Kill(ev.PID, syscall.SIGKILL)
						continue
					}
					if ev.Kind != stream.EventExit {
						continue
					}
					if !strings.Contains(ev.Cause, c.cause) {
						t.Fatalf("exit cause %q, want %q", ev.Cause, c.cause)
					}
					// The guard's kill says how long the request it cut
					// off had run (its due deadline less the timeout and
					// the grace): the live view draws that hold.
					if guard := c.worker == "guard-kill"; guard != (ev.Dur > 0) {
						t.Fatalf("exit dur %v for the %s worker", time.Duration(ev.Dur), c.worker)
					}
					return
				case <-timeout:
					t.Fatal("no exit within 10 s")
				}
			}
		})
	}
}

// A line on the event pipe that is not an event is logged, not dropped
// without a word.
func TestBadEventLineIsLogged(t *testing.T) {
	logged := make(chan string, 16)
	startFake(t, "garbage", Config{Model: Reactor,
		Logf: func(format string, args ...any) {
			if line := fmt.Sprintf(format, args...); strings.Contains(line, "not an event") {
				logged <- line
			}
		},
	})
	select {
	case line := <-logged:
		if !strings.Contains(line, "this is not an event") {
			t.Errorf("the log %q does not quote the line", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an undecodable event line was not logged within 10 s")
	}
}

// startFake starts a supervisor of cfg (its module, address, cache and
// executable filled in) whose workers are this test binary as the fake
// worker how (fakeWorker); Cleanup closes it.
func startFake(t *testing.T, how string, cfg Config) *Supervisor {
	t.Helper()
	dir := t.TempDir()
	cfg.Wasm = filepath.Join(dir, "empty.wasm")
	if err := os.WriteFile(cfg.Wasm, emptyWasm, 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MPMLAB_FAKE_WORKER", how)
	cfg.Addr, cfg.CacheDir, cfg.Executable = "127.0.0.1:0", dir, exe
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// emptyWasm is the smallest module the supervisor accepts: an empty _start.
var emptyWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
	0x03, 0x02, 0x01, 0x00, // function 0 has type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export _start
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // its body: end
}

// A worker's exit is logged with the cause its exit event gives, even when
// the process is reaped before the supervisor has read the events that
// came before (here 900 KiB of guest output).
func TestExitCauseSurvivesOutput(t *testing.T) {
	exits := make(chan string, 64)
	startFake(t, "chatty-crash", Config{Model: Reactor,
		Logf: func(format string, args ...any) {
			if line := fmt.Sprintf(format, args...); strings.Contains(line, "exited: ") {
				select {
				case exits <- line:
				default:
				}
			}
		},
	})
	// A bound, not a pace: three crashes and respawns take about a second,
	// but a worker under the race detector on a busy machine may take
	// several to start.
	timeout := time.After(time.Minute)
	for i := 0; i < 3; i++ {
		select {
		case line := <-exits:
			if !strings.Contains(line, "exited: loop 0 crashed: panic: after output; starting a replacement") {
				t.Errorf("exit logged without its cause: %q", line)
			}
		case <-timeout:
			t.Fatalf("%d exits logged in a minute, want 3", i)
		}
	}
}

// ProcessCPU reads what the kernel says this process has used, as getrusage
// does.
func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	rusage := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := rusage()
	for x := uint64(1); rusage()-start < 300*time.Millisecond; x *= 3 { // burn CPU
	}
	got, want := ProcessCPU(os.Getpid()), rusage()
	if d := got - want; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("ProcessCPU = %v, getrusage = %v", got, want)
	}
	if ProcessCPU(-1) != 0 {
		t.Error("ProcessCPU of no process is not 0")
	}
}

// ProcessPSS is resident memory with shared pages split: more than nothing
// and never more than ProcessRSS.
func TestProcessPSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no smaps_rollup here")
	}
	pss, rss := ProcessPSS(os.Getpid()), ProcessRSS(os.Getpid())
	if pss <= 0 || pss > rss {
		t.Errorf("ProcessPSS = %d KiB, ProcessRSS = %d KiB", pss, rss)
	}
}

// Spare-server maintenance reads the scoreboard, not trace events: with
// Trace off (the workers send nothing but ready and heartbeats), processes
// whose lanes are busy make it spawn 1, 2, 4 … a maintenance (Apache's
// idle_spawn_rate) up to MaxRequestWorkers, where it stops and the rate
// starts over at 1; above MaxSpareServers idle it retires one a
// maintenance. The test runs each maintenance (testSpares) once the
// scoreboard shows what the last one did.
func TestSparesGrowWithoutTracing(t *testing.T) {
	testSpares = make(chan chan int)
	t.Cleanup(func() { testSpares = nil })
	log := newLogLines()
	s := startFake(t, "busy", Config{
		Model: Process, StartServers: 1, MinSpare: 1, MaxSpare: 3, MaxRequestWorkers: 12, Trace: false, Logf: log.logf,
	})
	maintain := func() int {
		t.Helper()
		reply := make(chan int)
		select {
		case testSpares <- reply:
		case <-time.After(10 * time.Second):
			t.Fatal("the supervisor did not run a maintenance within 10s")
		}
		return <-reply
	}
	// settled waits until n processes are alive, every one ready with its
	// lane in state.
	settled := func(n int, state string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			alive, ok := 0, true
			for _, w := range s.Workers() {
				if w.PID != 0 {
					alive++
					ok = ok && w.Ready && w.Lanes[0] == state
				}
			}
			if alive == n && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("scoreboard after 20s: %d processes %v, want %d all ready and %s; the log:\n%s", alive, s.Workers(), n, state, log)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	signalAll := func(sig syscall.Signal) {
		for _, pid := range s.PIDs() {
			syscall.Kill(pid, sig)
		}
	}

	alive := 1
	settled(alive, stream.StateSending)
	for i, want := range []int{1, 2, 4, 4, 0} { // doubling, then MaxRequestWorkers (12)
		if got := maintain(); got != want {
			t.Fatalf("maintenance %d with %d busy processes started %d, want %d; the log:\n%s", i+1, alive, got, want, log)
		}
		alive += want
		settled(alive, stream.StateSending)
	}

	signalAll(syscall.SIGUSR1)
	settled(alive, stream.StateIdle)
	for alive > 10 { // 12 idle > MaxSpare 3: one a maintenance
		if got := maintain(); got != -1 {
			t.Fatalf("maintenance with %d idle processes did %d, want -1 (retire one)", alive, got)
		}
		alive--
		settled(alive, stream.StateIdle)
	}

	signalAll(syscall.SIGUSR2)
	settled(alive, stream.StateSending)
	for _, want := range []int{1, 1, 0} { // the rate started over: 1, then 2 capped by the one slot left
		if got := maintain(); got != want {
			t.Fatalf("busy again with %d processes: started %d, want %d (the rate starts over at 1)", alive, got, want)
		}
		alive += want
		settled(alive, stream.StateSending)
	}
}
