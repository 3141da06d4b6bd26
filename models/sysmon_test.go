package models

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A worker's environment keeps sysmon awake, after whatever GODEBUG the
// supervisor has, unless that already sets schedtrace.
func TestWorkerEnv(t *testing.T) {
	godebug := func(env []string) string {
		v := ""
		for _, kv := range env {
			if s, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
				v = s
			}
		}
		return v
	}
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{[]string{"HOME=/x"}, sysmonAwake},
		{[]string{"GODEBUG=gctrace=1"}, "gctrace=1," + sysmonAwake},
		{[]string{"GODEBUG=x=1", "GODEBUG=gctrace=1"}, "gctrace=1," + sysmonAwake},
		{[]string{"GODEBUG=schedtrace=1000"}, "schedtrace=1000"},
	} {
		env := workerEnv(tc.environ, "SPEC=1")
		if got := godebug(env); got != tc.want {
			t.Errorf("workerEnv(%q): GODEBUG %q, want %q", tc.environ, got, tc.want)
		}
		if env[len(env)-1] != "SPEC=1" || !slices.Contains(env, tc.environ[0]) {
			t.Errorf("workerEnv(%q) = %q: lost a variable", tc.environ, env)
		}
	}
}

// A spawned worker process runs with sysmon kept awake.
func TestWorkerSysmonAwake(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc here")
	}
	s := startFake(t, "garbage", Config{Model: Reactor})
	var pids []int
	for deadline := time.Now().Add(time.Minute); len(pids) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no worker within a minute")
		}
		pids = s.PIDs()
		time.Sleep(10 * time.Millisecond)
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(string(environ), "\x00")
	i := slices.IndexFunc(vars, func(kv string) bool {
		return strings.HasPrefix(kv, "GODEBUG=") && strings.Contains(kv, sysmonAwake)
	})
	if i < 0 {
		t.Errorf("the worker's environment has no GODEBUG with %s", sysmonAwake)
	}
}

// The scheduler's trace line is dropped from a worker's stderr, however
// its bytes arrive; every other line passes, and a line that cannot be a
// trace line passes before it ends.
func TestDropSchedTrace(t *testing.T) {
	const in = "panic: boom\n" +
		"SCHED 2147483647ms: gomaxprocs=2 idleprocs=1 threads=5 spinningthreads=0 needspinning=0 idlethreads=2 runqueue=0 [0 0]\n" +
		"SCHED is a word\n" +
		"SCHED 12 ms: not one\n" +
		"SCHEDULE\n" +
		"\n" +
		"goroutine 1 [running]:\n" +
		"SCHED 5ms: gomaxprocs=8 idleprocs=8\n" +
		"last, with no newline"
	const want = "panic: boom\n" +
		"SCHED is a word\n" +
		"SCHED 12 ms: not one\n" +
		"SCHEDULE\n" +
		"\n" +
		"goroutine 1 [running]:\n" +
		"last, with no newline"
	for size := 1; size <= len(in); size++ {
		var out bytes.Buffer
		f := &dropSchedTrace{w: &out}
		for p := in; p != ""; {
			k := min(size, len(p))
			if n, err := f.Write([]byte(p[:k])); n != k || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			p = p[k:]
		}
		if out.String() != want {
			t.Fatalf("written %d bytes at a time:\n%s\nwant:\n%s", size, out.String(), want)
		}
	}

	// A line that is not a trace line is passed on before its end comes.
	var out bytes.Buffer
	f := &dropSchedTrace{w: &out}
	f.Write([]byte("SCHED x"))
	if out.String() != "SCHED x" {
		t.Errorf("a line that cannot be a trace line was held: %q written", out.String())
	}

	// ReadFrom (exec.Cmd's copy) filters the same.
	out.Reset()
	f = &dropSchedTrace{w: &out}
	if n, err := f.ReadFrom(strings.NewReader(in)); n != int64(len(in)) || err != nil {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	if out.String() != want {
		t.Errorf("ReadFrom wrote:\n%s\nwant:\n%s", out.String(), want)
	}
}
