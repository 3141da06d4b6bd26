package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Under the reactor, time.Sleep parks a goroutine: one loop overlaps 100
// sleeping requests.
func TestReactorOverlapsSleeps(t *testing.T) {
	s := startRun(t, "--model", "reactor", "sleep")
	mustOK(t, get(s.URL)) // warm
	start := time.Now()
	rs := getAll(100, s.URL)
	elapsed := time.Since(start)
	mustOK(t, rs...)
	if elapsed > 500*time.Millisecond {
		t.Fatalf("100 concurrent 50ms sleeps took %v on one loop, want < 0.5s", elapsed)
	}
}

// guest.Block holds the loop: 40 blocking requests run one after another.
func TestReactorBlockingHoldsLoop(t *testing.T) {
	s := startRun(t, "--model", "reactor", "blocking")
	start := time.Now()
	rs := getAll(40, s.URL)
	elapsed := time.Since(start)
	mustOK(t, rs...)
	if min := time.Duration(0.8 * 40 * float64(50*time.Millisecond)); elapsed < min {
		t.Fatalf("40 blocking requests took %v, want >= %v: the loop was not held", elapsed, min)
	}
}

// One CPU-bound request starves the reactor's loop; threads are not starved.
func TestCPUStarvesReactorNotThreads(t *testing.T) {
	hellos := func(model string) time.Duration {
		s := startRun(t, "--model", model, "cpu")
		mustOK(t, get(s.URL+"/hello"))
		slow := make(chan response, 1)
		go func() { slow <- get(s.URL + "/?ms=300") }()
		time.Sleep(20 * time.Millisecond)
		rs := getAll(20, s.URL+"/hello")
		mustOK(t, rs...)
		mustOK(t, <-slow)
		return median(rs)
	}
	reactor := hellos("reactor")
	thread := hellos("thread")
	t.Logf("median /hello latency behind a 300ms computation: reactor %v, thread %v", reactor, thread)
	if reactor < 200*time.Millisecond {
		t.Errorf("reactor median %v, want >= 200ms: the loop was not starved", reactor)
	}
	if thread >= reactor/4 {
		t.Errorf("thread median %v, want < reactor/4 = %v", thread, reactor/4)
	}
}

func TestBuildReportsCompileErrors(t *testing.T) {
	dir := t.TempDir()
	src := "package main\n\nimport \"github.com/mpmlab/mpmlab/wasm/guest\"\n\nfunc main() {\n\tguest.Serve(nil)\n\tundefinedThing()\n}\n"
	path := filepath.Join(dir, "main.go")
	os.WriteFile(path, []byte(src), 0o644)
	_, stderr, code := mpmlab(t, "build", path)
	if code == 0 {
		t.Fatalf("build of a broken source succeeded")
	}
	if !regexp.MustCompile(`(?m)^main\.go:7:2: undefined: undefinedThing$`).MatchString(stderr) {
		t.Fatalf("no file:line:col diagnostic in:\n%s", stderr)
	}
	out := filepath.Join(dir, "hello.wasm")
	if _, stderr, code := mpmlab(t, "build", "-o", out, "hello"); code != 0 {
		t.Fatalf("build hello: %s", stderr)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "\x00asm") {
		t.Fatalf("%s is not a wasm module", out)
	}
}

// A main that never calls guest.Serve could answer nothing (it returns, and
// its worker exits again and again; or it listens on a port of its own):
// build and run refuse it, at the line, saying what to do.
func TestNoServeIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, body, at string }{
		{"returns", "func main() {\n\thttp.HandleFunc(\"/\", nil)\n}\n", "main.go:9:6"},
		{"listens", "func main() {\n\thttp.HandleFunc(\"/\", nil)\n\thttp.ListenAndServe(\":8080\", nil)\n}\n", "main.go:11:2"},
	} {
		src := "package main\n\nimport (\n\t\"net/http\"\n\n\t\"github.com/mpmlab/mpmlab/wasm/guest\"\n)\n\n" + c.body + "\nvar _ = guest.Worker\n"
		path := filepath.Join(dir, c.name, "main.go")
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(src), 0o644)
		want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.at) + `: main never calls guest\.Serve: call guest\.Serve\(nil\) at the end of main \(http\.ListenAndServe does not work here\)$`)
		for _, cmd := range []string{"build", "run"} {
			_, stderr, code := mpmlab(t, cmd, path)
			if code == 0 || !want.MatchString(stderr) {
				t.Errorf("mpmlab %s of a main that %s: exit %d, want a refusal at %s naming guest.Serve:\n%s", cmd, c.name, code, c.at, stderr)
			}
		}
	}
}

// A crash fails its request with a 5xx and a short message; the next one
// succeeds and the supervisor stays up.
func TestCrashIsContained(t *testing.T) {
	for _, model := range []string{"process", "thread", "reactor"} {
		t.Run(model, func(t *testing.T) {
			s := startRun(t, "--model", model, "crash")
			mustOK(t, get(s.URL))
			r := get(s.URL + "/crash")
			if r.Err != nil || r.Status != 502 || !strings.Contains(r.Body, "panic: crash requested") {
				t.Fatalf("crash got %d %q (err %v), want a whole 502 naming the panic", r.Status, r.Body, r.Err)
			}
			waitFor(t, 10*time.Second, "a request to succeed after the crash", func() bool {
				r := get(s.URL)
				return r.Err == nil && r.Status == 200
			})
			if !s.Alive() {
				t.Fatal("the supervisor exited")
			}
			waitFor(t, 5*time.Second, "the crash and its replacement in the log", func() bool {
				return strings.Contains(s.Logs(), "crashed: panic: crash requested; starting a replacement")
			})
		})
	}
}

// Every crash answers: under concurrent crashes each crashing request gets
// its whole 502 naming the panic, and each exit reaches the supervisor's
// log with its cause (the worker's exit event, not just "exit status 3").
func TestEveryCrashAnswers(t *testing.T) {
	const workers, rounds = 8, 4
	s := startRun(t, "--model", "process", "--start-servers", fmt.Sprint(workers), "--max-request-workers", fmt.Sprint(workers),
		"--min-spare", "-1", "--max-spare", fmt.Sprint(workers), "crash")
	ready := func() int { return strings.Count(s.Logs(), " ready in ") }
	for round := 1; round <= rounds; round++ {
		for _, r := range getAll(workers, s.URL+"/crash") {
			if r.Err != nil || r.Status != 502 || !strings.Contains(r.Body, "panic: crash requested") {
				t.Fatalf("round %d: crash got %d %q (err %v), want a whole 502 naming the panic\n%s", round, r.Status, r.Body, r.Err, s.Logs())
			}
		}
		waitFor(t, 20*time.Second, "every crashed worker replaced and ready", func() bool { return ready() >= workers*(round+1) })
	}
	logged := func() int { return strings.Count(s.Logs(), "crashed: panic: crash requested; starting a replacement") }
	waitFor(t, 5*time.Second, "every crash logged with its cause", func() bool { return logged() >= workers*rounds })
	if n := strings.Count(s.Logs(), "exited: exit status"); n > 0 {
		t.Fatalf("%d exits logged without their cause:\n%s", n, s.Logs())
	}
}

// A dying worker takes no new connection: the request after a crash waits
// in the accept queue for the replacement, instead of reaching the dying
// process (a 503, or a connection dropped when it exits).
func TestDyingWorkerTakesNoConnection(t *testing.T) {
	s := startRun(t, "--model", "process", "--start-servers", "1", "--max-request-workers", "1",
		"--min-spare", "-1", "--max-spare", "1", "crash")
	mustOK(t, get(s.URL))
	for i := 0; i < 3; i++ {
		before := s.Workers()
		if r := get(s.URL + "/crash"); r.Status != 502 {
			t.Fatalf("crash %d got %d %q (err %v), want 502", i, r.Status, r.Body, r.Err)
		}
		r := get(s.URL) // sent as soon as the crash has answered
		if r.Err != nil || r.Status != 200 {
			t.Fatalf("the request after crash %d got %d %q (err %v), want 200 from the replacement", i, r.Status, r.Body, r.Err)
		}
		if sameInts(before, s.Workers()) {
			t.Fatalf("the request after crash %d was served by the crashed worker", i)
		}
	}
}

// A runaway request is cut off after --timeout with the 504 of the worker's
// own timer (not the kill that backs it up a second later), while other
// clients keep sending: their requests keep the worker's second P busy
// until it sees that none finishes (pHolder). The server keeps serving.
func TestRunawayIsCutOff(t *testing.T) {
	for _, model := range []string{"process", "reactor"} {
		t.Run(model, func(t *testing.T) {
			s := startRun(t, "--model", model, "--timeout", "1s", "runaway")
			mustOK(t, get(s.URL))
			stopOthers := keepGetting(4, s.URL)
			start := time.Now()
			r := get(s.URL + "/spin")
			elapsed := time.Since(start)
			stopOthers()
			if r.Status != http.StatusGatewayTimeout {
				t.Fatalf("runaway request: status %d %q (err %v) after %v, want the 504 of --timeout", r.Status, r.Body, r.Err, elapsed)
			}
			if elapsed < time.Second || elapsed > 3*time.Second {
				t.Fatalf("runaway request ended after %v, want about --timeout 1s", elapsed)
			}
			t.Logf("runaway: status %d %q after %v", r.Status, strings.TrimSpace(r.Body), elapsed)
			waitFor(t, 10*time.Second, "a request to succeed after the runaway", func() bool {
				r := get(s.URL)
				return r.Err == nil && r.Status == 200
			})
		})
	}
}

// On a loop, the request cut off with the 504 is the one holding it, not
// one whose timer runs out first because it waits for the loop. /stream
// holds the loop, writing a dot every 100 ms for 600 ms (each re-arms its
// timer), then spins; /hello, sent on a connection kept alive from
// before just after the first dot, never runs, and its timer runs out
// first. /stream is cut off (its head is out: its connection is cut);
// /hello fails with the loop (a 502), not blamed with the 504.
func TestRunawayBlamesTheLoopHolder(t *testing.T) {
	s := startRun(t, "--model", "reactor", "--timeout", "1s", "testdata/holder.go")
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	send(t, c, "/")
	if status, body := answer(br); status != 200 {
		t.Fatalf("warm-up: %d %q", status, body)
	}
	stream, err := http.Get(s.URL + "/stream?ms=600")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if _, err := stream.Body.Read(make([]byte, 1)); err != nil {
		t.Fatalf("/stream's first dot: %v", err)
	}
	send(t, c, "/hello")
	if status, body := answer(br); status != http.StatusBadGateway {
		t.Errorf("/hello, which waited for the held loop: %d %q; want 502: it failed with the loop, and is not the runaway", status, body)
	}
	if rest, err := io.ReadAll(stream.Body); err == nil {
		t.Errorf("/stream, the runaway: %q and a clean end, want its connection cut", rest)
	}
}

// send writes a GET for path on c.
func send(t *testing.T, c net.Conn, path string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// answer reads a response's status and body from br (0 and the error's
// text when there is none).
func answer(br *bufio.Reader) (int, string) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err.Error()
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A guest that exhausts its memory fails its request cleanly.
func TestMemoryLimitIsContained(t *testing.T) {
	s := startRun(t, "--model", "reactor", "--memory-limit", "64", "memory")
	r := get(s.URL + "/grow")
	if r.Status != 502 || !strings.Contains(r.Body, "out of memory") {
		t.Fatalf("grow got %d %q (err %v), want 502 out of memory", r.Status, r.Body, r.Err)
	}
	waitFor(t, 10*time.Second, "a request to succeed after the OOM", func() bool {
		r := get(s.URL)
		return r.Err == nil && r.Status == 200
	})
}

// An idle server costs (almost) nothing: supervisor and workers together
// use under 1% of a core.
func TestIdleCPU(t *testing.T) {
	for _, model := range []string{"process", "thread", "reactor"} {
		t.Run(model, func(t *testing.T) {
			s := startRun(t, "--model", model, "hello")
			mustOK(t, get(s.URL))
			time.Sleep(300 * time.Millisecond) // let start-up settle
			pids := append([]int{s.cmd.Process.Pid}, s.Workers()...)
			total := func() (d time.Duration) {
				for _, p := range pids {
					d += cpuTime(t, p)
				}
				return d
			}
			before := total()
			time.Sleep(2 * time.Second)
			used := total() - before
			t.Logf("%s: %d processes used %v of CPU in 2s idle", model, len(pids), used)
			if used > 20*time.Millisecond {
				t.Fatalf("idle server used %v CPU in 2s (%.1f%% of a core), want < 1%%", used, float64(used)/float64(2*time.Second)*100)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(dir, "x.py")
	os.WriteFile(py, []byte("print(1)"), 0o644)
	big := filepath.Join(dir, "big.go")
	os.WriteFile(big, []byte("package main\n\nvar s = `"+strings.Repeat("x", 70<<10)+"`\n\nfunc main() {}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing path", []string{"run"}, "missing PATH"},
		{"no such file", []string{"build", filepath.Join(dir, "nope.go")}, "no such file"},
		{"non-Go file", []string{"build", py}, "not a Go source"},
		{"oversized source", []string{"build", big}, "the limit is 65536"},
		{"unknown model", []string{"run", "--model", "fork", "hello"}, `unknown model "fork"`},
		{"unknown flag", []string{"run", "--wat", "hello"}, "flag provided but not defined: -wat"},
		{"bad knob", []string{"run", "--threads-per-child", "99", "--model", "thread", "hello"}, "threads-per-child 99 out of range 1..64"},
		{"knobs that contradict", []string{"run", "--min-spare", "9", "--max-spare", "3", "--model", "process", "hello"}, "min-spare 9 must be below max-spare 3"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := mpmlab(t, c.args...)
			if code == 0 {
				t.Fatalf("exit status 0")
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Fatalf("want one line containing %q, got:\n%s", c.want, stderr)
			}
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range []string{"run", "build", "bench", "serve"} {
		_, stderr, code := mpmlab(t, c, "--help")
		if code != 0 || !strings.Contains(stderr, "Usage: mpmlab "+c) {
			t.Errorf("mpmlab %s --help: exit %d\n%s", c, code, stderr)
		}
	}
	if _, stderr, _ := mpmlab(t, "--help"); !strings.Contains(stderr, "Commands:") {
		t.Errorf("mpmlab --help:\n%s", stderr)
	}
}

// Malformed and oversized requests get an HTTP error; the server and its
// workers keep serving.
func TestMalformedRequests(t *testing.T) {
	s := startRun(t, "--model", "reactor", "hello")
	host := strings.TrimPrefix(s.URL, "http://")
	send := func(raw string) string {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, raw)
		b, _ := io.ReadAll(c)
		line, _, _ := strings.Cut(string(b), "\r\n")
		return line
	}
	cases := []struct{ name, raw, want string }{
		{"garbage", "\x00\x01\x02 not http at all\r\n\r\n", "400"},
		{"bad method line", "GET\r\n\r\n", "400"},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "431"},
		// Past LimitRequestBody (Apache's 1 GiB by default): refused on
		// its declared length, before a byte of it is read.
		{"body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741825\r\n\r\n" + strings.Repeat("b", 1<<16), "413"},
	}
	for _, c := range cases {
		if got := send(c.raw); !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want status %s", c.name, got, c.want)
		}
	}
	mustOK(t, get(s.URL))
	if !s.Alive() {
		t.Fatal("the supervisor exited")
	}
}

// --limit-request-body (Apache's LimitRequestBody): a body one byte over
// the limit is answered 413 and never reaches the handler, one at the limit
// does.
func TestLimitRequestBody(t *testing.T) {
	s := startRun(t, "--model", "reactor", "--limit-request-body", "1000", "counter")
	post := func(n int) response {
		t.Helper()
		resp, err := client.Post(s.URL, "application/octet-stream", strings.NewReader(strings.Repeat("b", n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{Status: resp.StatusCode, Body: string(b)}
	}
	if r := post(1001); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "LimitRequestBody") {
		t.Errorf("1001 bytes: status %d %q, want 413 naming LimitRequestBody", r.Status, r.Body)
	}
	if r := post(1000); r.Status != http.StatusOK || !strings.HasPrefix(r.Body, "global 1,") {
		t.Errorf("1000 bytes: status %d %q, want 200 from the handler's first request", r.Status, r.Body)
	}
	out, err := exec.Command(binPath, "run", "--limit-request-body", "3000000000", "hello").CombinedOutput()
	if !strings.Contains(string(out), "limit-request-body 3000000000 out of range 1..2147483647") || err == nil {
		t.Errorf("run --limit-request-body 3000000000: %v\n%s", err, out)
	}
}

// A worker that keeps dying young is replaced with a growing delay, not in
// a tight fork loop; the supervisor stays up.
func TestCrashLoopBacksOff(t *testing.T) {
	s := startRun(t, "--model", "reactor", "testdata/crashloop.go")
	// Replaced at once, then after 100 and 200 ms: the fourth death waits
	// 400 ms.
	var logs string
	waitFor(t, 20*time.Second, "a respawn delay of 400ms in the log", func() bool {
		logs = s.Logs()
		return strings.Contains(logs, "starting a replacement in 400ms (it keeps dying young)")
	})
	spawns := strings.Count(logs, "spawned loop 0")
	t.Logf("%d spawns before the 400 ms delay", spawns)
	if !s.Alive() {
		t.Fatal("the supervisor exited")
	}
	if spawns != 4 {
		t.Fatalf("%d spawns before the fourth death's delay, want 4", spawns)
	}
}

// A guest printing a huge line does not break its worker's event pipe.
func TestHugeGuestOutput(t *testing.T) {
	s := startRun(t, "--model", "reactor", "testdata/biglog.go")
	before := s.Workers()
	mustOK(t, get(s.URL+"/print"))
	waitFor(t, 5*time.Second, "the line in the supervisor's log", func() bool { return strings.Contains(s.Logs(), "] xxxx") })
	mustOK(t, get(s.URL))
	if !sameInts(before, s.Workers()) {
		t.Fatalf("the worker was replaced after a long log line:\n%s", s.Logs()[:min(len(s.Logs()), 2000)])
	}
	// An invalid status panics in the guest, as in net/http: a 502 naming it.
	r := get(s.URL + "/status?code=42")
	if r.Status != 502 || !strings.Contains(r.Body, "invalid WriteHeader code 42") {
		t.Fatalf("status 42 got %d %q", r.Status, r.Body)
	}
	waitFor(t, 10*time.Second, "a request after the invalid status", func() bool { return get(s.URL).Status == 200 })
}

// A handler that is not in the compilation cache answers before its
// machine code is ready: "mpmlab run" serves it on the interpreter, says
// so, and switches to workers on machine code once they are ready. Every
// answer names the engine that gave it (models' TestServeWhileCompiling
// holds the compile to check the switch itself).
func TestRunServesWhileCompiling(t *testing.T) {
	// A source of its own: no other test has compiled it.
	path := filepath.Join(t.TempDir(), "main.go")
	src, err := os.ReadFile("../../wasm/examples/hello/main.go")
	if err != nil {
		t.Fatal(err)
	}
	src = fmt.Appendf(src, "\n// %s %d\n", t.Name(), time.Now().UnixNano())
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{startProcess(t, listeningRE, "run", "--addr", "127.0.0.1:0", "--model", "reactor", path)}
	// The log is on stderr, "listening on" on stdout: no order between them.
	waitFor(t, 10*time.Second, "the log to say the interpreter serves", func() bool {
		return strings.Contains(s.Logs(), "serving on the interpreter while the compiler finishes")
	})
	if !regexp.MustCompile(`loop 0 \(pid \d+\) ready in \S+ on the interpreter`).MatchString(s.Logs()) {
		t.Fatalf("the worker's ready line does not name the interpreter:\n%s", s.Logs())
	}
	// The first answer comes from the interpreter unless the compile was
	// faster than one request; then from a worker the log names as the
	// interpreter's successor.
	first := get(s.URL)
	mustOK(t, first)
	waitFor(t, 2*time.Minute, "the switch to compiled code", func() bool { return strings.Contains(s.Logs(), "switched to compiled code") })
	successor := regexp.MustCompile(`on the interpreter hands over to pid (\d+) and stops after its requests`).FindStringSubmatch(s.Logs())
	if successor == nil {
		t.Fatalf("no handover in the log:\n%s", s.Logs())
	}
	onMachineCode := fmt.Sprintf("loop 0 (pid %s)", successor[1])
	if first.Worker != onMachineCode && !strings.HasSuffix(first.Worker, ", interpreter)") {
		t.Errorf("first answer from %q: neither the interpreter nor its successor", first.Worker)
	}
	if r := get(s.URL); r.Status != 200 || r.Worker != onMachineCode {
		t.Fatalf("after the switch: %d from %q, want 200 from %q", r.Status, r.Worker, onMachineCode)
	}
	t.Logf("first answer from %q", first.Worker)
}
