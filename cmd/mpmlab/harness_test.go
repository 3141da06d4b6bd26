package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The integration tests start the real mpmlab binary, built once per test
// binary, with a cache directory shared by the tests (so each example is
// built once) and the machine's Go build cache.

var (
	binPath  string
	cacheDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here starts the real binary, worker processes or a
		// browser: none is a unit test.
		fmt.Println("cmd/mpmlab: real-binary and real-browser tests skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "mpmlab-test-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "mpmlab")
	cacheDir = filepath.Join(dir, "cache")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile builds it
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mpmlab: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mpmlab runs the binary to completion and returns its output and exit code.
func mpmlab(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "MPMLAB_CACHE="+cacheDir)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("mpmlab %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// mpmlabProcess is a long-running mpmlab command started by a test ("run"
// or "serve"), with its output captured.
type mpmlabProcess struct {
	// URL is the base URL the command printed.
	URL string

	t        *testing.T
	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex
	logs     strings.Builder
}

// startProcess starts mpmlab with args and waits until it prints a line
// that urlRE matches (its first group is the URL). Cleanup calls Stop.
func startProcess(t *testing.T, urlRE *regexp.Regexp, args ...string) *mpmlabProcess {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "MPMLAB_CACHE="+cacheDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &mpmlabProcess{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.logs.Write(b)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	select {
	case p.URL = <-urls:
	case <-p.done:
		t.Fatalf("mpmlab %v exited before listening:\n%s", args, p.Logs())
	case <-time.After(3 * time.Minute):
		t.Fatalf("mpmlab %v did not listen within 3m:\n%s", args, p.Logs())
	}
	return p
}

// Logs returns what the process printed so far (stdout and stderr).
func (p *mpmlabProcess) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Children returns the pids of the process's children (worker processes,
// and go commands while building).
func (p *mpmlabProcess) Children() []int { return children(p.cmd.Process.Pid) }

// Alive reports whether the process is still running.
func (p *mpmlabProcess) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop interrupts the process as Ctrl-C would and checks that it exits
// within 10s and takes every child with it. It is idempotent.
func (p *mpmlabProcess) Stop() {
	p.stopOnce.Do(func() {
		kids := p.Children()
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("mpmlab did not exit within 10s of SIGINT:\n%s", p.Logs())
		}
		for _, pid := range kids {
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				p.t.Errorf("process %d outlived mpmlab", pid)
			}
		}
	})
}

// server is a running "mpmlab run".
type server struct{ *mpmlabProcess }

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// startRun starts "mpmlab run --addr 127.0.0.1:0 --compile-first args..."
// and waits until it listens. Cleanup interrupts it and checks that no
// worker outlives it. With --compile-first every worker runs the guest's
// machine code from the start, as the laws these tests check are about;
// TestRunServesWhileCompiling checks the interpreter's bridge.
func startRun(t *testing.T, args ...string) *server {
	t.Helper()
	return &server{startProcess(t, listeningRE, append([]string{"run", "--addr", "127.0.0.1:0", "--compile-first"}, args...)...)}
}

// Workers returns the pids of the supervisor's worker processes.
func (s *server) Workers() []int { return s.Children() }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// cpuTime is the CPU time pid has used (from /proc/PID/schedstat).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	// schedstat of the thread group leader covers only that thread: sum all.
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("cannot read the CPU time of pid %d from /proc/%d/task/*/schedstat: the idle-CPU law needs Linux's /proc", pid, pid)
	}
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(n)
		}
	}
	return total
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// response is what a test request got.
type response struct {
	Status  int
	Body    string
	Worker  string
	Latency time.Duration
	Err     error
}

var client = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 0, DisableKeepAlives: true},
	Timeout:   60 * time.Second,
}

func get(url string) response {
	return getWith(client, url)
}

func getWith(c *http.Client, url string) response {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return response{Err: err, Latency: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(b), Worker: resp.Header.Get("X-Mpmlab-Worker"), Latency: time.Since(start), Err: err}
}

// keepGetting has n clients GET url over and over, each request on a new
// connection, until the stop it returns is called; stop waits for them.
func keepGetting(n int, url string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					get(url)
				}
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// getAll sends n concurrent GETs and returns their responses.
func getAll(n int, url string) []response {
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = get(url) }()
	}
	wg.Wait()
	return out
}

func mustOK(t *testing.T, rs ...response) {
	t.Helper()
	for _, r := range rs {
		if r.Err != nil || r.Status != 200 {
			t.Fatalf("request failed: status %d, err %v, body %q", r.Status, r.Err, r.Body)
		}
	}
}

func median(rs []response) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = r.Latency
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j] < ds[i] {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	return ds[len(ds)/2]
}
