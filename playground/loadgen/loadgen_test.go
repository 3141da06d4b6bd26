package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The server side of every test is a real net/http server on loopback: this
// package is a client, and httptest is the real thing for it.

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func mustRun(t *testing.T, cfg Config) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum
}

func TestClosedLoopSendsExactlyRequests(t *testing.T) {
	const body = "hello, loadgen\n"
	var hits atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, body)
	})
	var results atomic.Int64
	const n = 300
	sum := mustRun(t, Config{
		URL:         srv.URL + "/hello",
		Concurrency: 8,
		Requests:    n,
		OnResult:    func(Result) { results.Add(1) },
	})
	if sum.Requests != n || sum.Succeeded != n || sum.Errors != 0 {
		t.Errorf("requests/succeeded/errors = %d/%d/%d, want %d/%d/0", sum.Requests, sum.Succeeded, sum.Errors, n, n)
	}
	if got := hits.Load(); got != n {
		t.Errorf("server saw %d requests, want %d", got, n)
	}
	if got := results.Load(); got != n {
		t.Errorf("OnResult called %d times, want %d", got, n)
	}
	if want := map[int]int{200: n}; !reflect.DeepEqual(sum.StatusCodes, want) {
		t.Errorf("StatusCodes = %v, want %v", sum.StatusCodes, want)
	}
	if want := int64(n * len(body)); sum.BytesRead != want {
		t.Errorf("BytesRead = %d, want %d", sum.BytesRead, want)
	}
	if sum.RPS <= 0 || sum.Latency.Min <= 0 || sum.Latency.Min > sum.Latency.P50 || sum.Latency.P99 > sum.Latency.Max {
		t.Errorf("implausible stats: rps %v, latency %+v", sum.RPS, sum.Latency)
	}
}

func TestClosedLoopStatusCodes(t *testing.T) {
	var hits atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%3 == 0 {
			http.Error(w, "every third", http.StatusInternalServerError)
		}
	})
	sum := mustRun(t, Config{URL: srv.URL, Concurrency: 5, Requests: 300, KeepAlive: true})
	if want := map[int]int{200: 200, 500: 100}; !reflect.DeepEqual(sum.StatusCodes, want) {
		t.Errorf("StatusCodes = %v, want %v", sum.StatusCodes, want)
	}
	if sum.Succeeded != 200 || sum.Errors != 0 {
		t.Errorf("succeeded/errors = %d/%d, want 200/0 (a 500 is a response, not an error)", sum.Succeeded, sum.Errors)
	}
}

func TestMethodBodyHeader(t *testing.T) {
	var bad atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != "ping" || r.Header.Get("X-Test") != "yes" {
			bad.Add(1)
		}
	})
	mustRun(t, Config{
		URL: srv.URL, Method: http.MethodPost, Body: []byte("ping"),
		Header:   http.Header{"X-Test": {"yes"}},
		Requests: 20, Concurrency: 4, KeepAlive: true,
	})
	if n := bad.Load(); n != 0 {
		t.Errorf("%d requests arrived without the configured method, body or header", n)
	}
}

func TestKeepAlive(t *testing.T) {
	const requests, concurrency = 200, 4
	for _, tc := range []struct {
		keepAlive bool
		min, max  int64
	}{
		// A few extra connections are possible: net/http may dial while a
		// connection is on its way back to the idle pool.
		{keepAlive: true, min: 1, max: concurrency + 4},
		{keepAlive: false, min: requests, max: requests},
	} {
		t.Run(fmt.Sprintf("KeepAlive=%v", tc.keepAlive), func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			sum := mustRun(t, Config{URL: srv.URL, Concurrency: concurrency, Requests: requests, KeepAlive: tc.keepAlive})
			if sum.Succeeded != requests {
				t.Fatalf("succeeded = %d, want %d (errors %v)", sum.Succeeded, requests, sum.ErrorKinds)
			}
			if n := conns.Load(); n < tc.min || n > tc.max {
				t.Errorf("server saw %d new connections, want %d..%d", n, tc.min, tc.max)
			}
		})
	}
}

// A server that handles one request at a time, 20ms each (50 req/s), loaded
// at 100 req/s. A closed-loop client with one connection waits for each
// response before sending the next, so it only ever sees the 20ms service
// time: the queue that real users would build up is never measured. The open
// loop keeps the schedule and counts from it, so its latencies show the queue.
func TestOpenLoopExposesCoordinatedOmission(t *testing.T) {
	var mu sync.Mutex
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		time.Sleep(20 * time.Millisecond) // the work: one request at a time
	})

	closed := mustRun(t, Config{URL: srv.URL, Concurrency: 1, Requests: 25, KeepAlive: true})
	open := mustRun(t, Config{URL: srv.URL, Rate: 100, Duration: time.Second, KeepAlive: true})

	t.Logf("closed loop: %d requests, p99 %v; open loop: %d requests, p99 %v",
		closed.Requests, closed.Latency.P99, open.Requests, open.Latency.P99)
	if open.Requests < 90 || open.Requests > 110 {
		t.Errorf("open loop sent %d requests at 100/s for 1s, want 100±10", open.Requests)
	}
	if open.Errors != 0 {
		t.Errorf("open loop errors: %v", open.ErrorKinds)
	}
	if open.Latency.P99 < 3*closed.Latency.P99 {
		t.Errorf("open-loop p99 %v < 3 × closed-loop p99 %v: the queue is not measured", open.Latency.P99, closed.Latency.P99)
	}
}

// The n-th request is due at start + n/rate exactly, whatever the timers do:
// the schedule is computed, not accumulated, so it cannot drift.
func TestOpenLoopScheduleDoesNotDrift(t *testing.T) {
	srv := newServer(t, func(http.ResponseWriter, *http.Request) {})
	var mu sync.Mutex
	var starts []time.Time
	sum := mustRun(t, Config{
		URL: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, KeepAlive: true,
		OnResult: func(r Result) {
			mu.Lock()
			starts = append(starts, r.Start)
			mu.Unlock()
		},
	})
	if sum.Requests != 100 || len(starts) != 100 {
		t.Fatalf("sent %d requests (%d results) at 200/s for 500ms, want 100", sum.Requests, len(starts))
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	for i, s := range starts {
		if got, want := s.Sub(starts[0]), time.Duration(i)*5*time.Millisecond; got != want {
			t.Fatalf("request %d due at +%v, want +%v", i, got, want)
		}
	}
}

// With the in-flight cap reached, a due request waits for a slot, and the wait
// counts in its latency.
func TestOpenLoopCapWaitsAndCounts(t *testing.T) {
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { time.Sleep(50 * time.Millisecond) })
	sum := mustRun(t, Config{URL: srv.URL, Rate: 100, Duration: 500 * time.Millisecond, Concurrency: 1, KeepAlive: true})
	if sum.Requests != 50 || sum.Succeeded != 50 {
		t.Fatalf("requests/succeeded = %d/%d, want 50/50 (errors %v)", sum.Requests, sum.Succeeded, sum.ErrorKinds)
	}
	// 50 requests one at a time take at least 2.5s; the last was due at
	// 490ms, so it waited at least 2s.
	if sum.Latency.Max < 2*time.Second {
		t.Errorf("max latency %v < 2s: the wait for a free slot is not counted", sum.Latency.Max)
	}
}

// Requests still waiting for a slot Timeout after the end are reported.
func TestOpenLoopReportsNotSent(t *testing.T) {
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { time.Sleep(250 * time.Millisecond) })
	sum := mustRun(t, Config{
		URL: srv.URL, Rate: 100, Duration: 200 * time.Millisecond, Concurrency: 1,
		Timeout: 300 * time.Millisecond,
	})
	// 20 due; in the 500ms until the drain ends at most 3 can be sent.
	if sum.Requests != 20 {
		t.Errorf("requests = %d, want 20: every due request is recorded", sum.Requests)
	}
	if n := sum.ErrorKinds["not sent"]; n < 10 {
		t.Errorf(`ErrorKinds["not sent"] = %d, want >= 10 (%v)`, n, sum.ErrorKinds)
	}
}

func TestDurationBound(t *testing.T) {
	srv := newServer(t, func(http.ResponseWriter, *http.Request) {})
	begin := time.Now()
	sum := mustRun(t, Config{URL: srv.URL, Duration: 300 * time.Millisecond, Concurrency: 4, KeepAlive: true})
	wall := time.Since(begin)
	if wall < 250*time.Millisecond || wall > 5*time.Second {
		t.Errorf("a 300ms run took %v", wall)
	}
	if sum.Requests == 0 || sum.Errors != 0 {
		t.Errorf("requests/errors = %d/%d (%v)", sum.Requests, sum.Errors, sum.ErrorKinds)
	}
}

func TestCancelStopsEarly(t *testing.T) {
	t.Run("requests in flight", func(t *testing.T) {
		started := make(chan struct{})
		var once sync.Once
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(started) })
			<-r.Context().Done() // hold until the client goes away
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-started; cancel() }()

		begin := time.Now()
		sum, err := Run(ctx, Config{URL: srv.URL, Duration: 30 * time.Second, Concurrency: 2})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if sum == nil {
			t.Fatal("no partial summary")
		}
		if sum.Requests != 0 {
			t.Errorf("requests = %d, want 0: interrupted requests are not recorded (%v)", sum.Requests, sum.ErrorKinds)
		}
		if wall := time.Since(begin); wall > 10*time.Second {
			t.Errorf("cancelled run took %v", wall)
		}
	})
	for _, rate := range []float64{0, 1000} {
		t.Run(fmt.Sprintf("partial summary rate=%v", rate), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Cancelled once 50 requests have finished: at a rate, many
			// more may be in flight then (on a busy machine, the first
			// 50 may all be), and those are not recorded.
			var done atomic.Int64
			srv := newServer(t, func(http.ResponseWriter, *http.Request) {})
			begin := time.Now()
			sum, err := Run(ctx, Config{URL: srv.URL, Duration: 30 * time.Second, Rate: rate, KeepAlive: true,
				OnResult: func(Result) {
					if done.Add(1) == 50 {
						cancel()
					}
				}})
			if !errors.Is(err, context.Canceled) || sum == nil {
				t.Fatalf("Run = %v, %v; want a summary and context.Canceled", sum, err)
			}
			if sum.Requests < 1 || sum.Errors != 0 {
				t.Errorf("requests/errors = %d/%d, want some requests and no errors (%v)", sum.Requests, sum.Errors, sum.ErrorKinds)
			}
			if wall := time.Since(begin); wall > 10*time.Second {
				t.Errorf("cancelled run took %v", wall)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String() + "/"
	l.Close()

	hangUp := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})

	for _, tc := range []struct {
		name, url string
		timeout   time.Duration
		kind      string
	}{
		{"nothing listening", closedURL, 0, "connection refused"},
		{"server hangs up", hangUp.URL, 0, "EOF"},
		{"slow server", slow.URL, 100 * time.Millisecond, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := mustRun(t, Config{URL: tc.url, Requests: 3, Concurrency: 1, Timeout: tc.timeout})
			if sum.Requests != 3 || sum.Errors != 3 || sum.ErrorKinds[tc.kind] != 3 {
				t.Errorf("requests/errors = %d/%d, kinds %v; want 3/3, all %q", sum.Requests, sum.Errors, sum.ErrorKinds, tc.kind)
			}
			if len(sum.StatusCodes) != 0 || len(sum.Histogram) != 0 || sum.Latency != (LatencyStats{}) {
				t.Errorf("errors must not count as responses: %v %v %+v", sum.StatusCodes, sum.Histogram, sum.Latency)
			}
		})
	}
}

func TestErrorKindOfWrappedErrors(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: err} }
	opErr := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{urlErr(opErr("dial", syscall.ECONNREFUSED)), "connection refused"},
		{urlErr(opErr("read", syscall.ECONNRESET)), "connection reset"},
		{urlErr(opErr("write", syscall.EPIPE)), "broken pipe"},
		{urlErr(opErr("dial", syscall.EADDRNOTAVAIL)), "no free local port"},
		{urlErr(io.EOF), "EOF"},
		{io.ErrUnexpectedEOF, "EOF"},
		{urlErr(errors.New("http: server closed idle connection")), "EOF"},
		{urlErr(context.DeadlineExceeded), "timeout"},
		{urlErr(fmt.Errorf("%w: refusing to dial 10.0.0.1:80", errNotLoopback)), "not loopback"},
		{urlErr(errors.New("something odd")), "something odd"},
		{errors.New(strings.Repeat("x", 100)), strings.Repeat("x", maxErrorKindLen) + "..."},
	} {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Redirects are not followed: following one could leave loopback.
func TestRedirectNotFollowed(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
	})
	sum := mustRun(t, Config{URL: srv.URL, Requests: 3, Concurrency: 1})
	if sum.StatusCodes[http.StatusFound] != 3 || sum.Succeeded != 3 || sum.Errors != 0 {
		t.Errorf("status codes %v, succeeded %d, errors %v; want three 302s, succeeded", sum.StatusCodes, sum.Succeeded, sum.ErrorKinds)
	}
}

func TestDialRefusesNonLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": true, "127.1.2.3:80": true, "[::1]:80": true,
		"10.0.0.1:80": false, "192.168.1.1:8080": false, "[2001:db8::1]:80": false,
	} {
		err := dialLoopbackOnly("tcp", addr, nil)
		if ok != (err == nil) {
			t.Errorf("dialLoopbackOnly(%s) = %v", addr, err)
		}
		if !ok && !errors.Is(err, errNotLoopback) {
			t.Errorf("dialLoopbackOnly(%s) = %v, want errNotLoopback", addr, err)
		}
	}
}

func TestValidate(t *testing.T) {
	const ok = "http://127.0.0.1:8080/x"
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"ipv4 loopback", Config{URL: ok}, ""},
		{"localhost", Config{URL: "http://localhost:1/"}, ""},
		{"ipv6 loopback", Config{URL: "http://[::1]:80/"}, ""},
		{"all zero but url", Config{URL: ok, Concurrency: 0, Requests: 0, Duration: 0, Rate: 0}, ""},
		{"limits", Config{URL: ok, Concurrency: MaxConcurrency, Requests: MaxRequests, Duration: MaxDuration, Rate: MaxRate, Timeout: MaxDuration}, ""},
		{"empty url", Config{}, "url is required"},
		{"remote host", Config{URL: "http://example.com/"}, `loadgen only targets loopback, got "http://example.com/"`},
		{"private address", Config{URL: "http://10.0.0.1:80/"}, "loadgen only targets loopback"},
		{"lookalike name", Config{URL: "http://localhost.example.com/"}, "loadgen only targets loopback"},
		{"unspecified address", Config{URL: "http://0.0.0.0:80/"}, "loadgen only targets loopback"},
		{"https", Config{URL: "https://127.0.0.1/"}, "scheme must be http"},
		{"bad method", Config{URL: ok, Method: "GE T"}, "method"},
		{"negative concurrency", Config{URL: ok, Concurrency: -1}, "concurrency -1 out of range 1..10000"},
		{"concurrency too high", Config{URL: ok, Concurrency: 10001}, "concurrency 10001 out of range 1..10000"},
		{"negative requests", Config{URL: ok, Requests: -1}, "requests -1 out of range"},
		{"too many requests", Config{URL: ok, Requests: MaxRequests + 1}, "requests 1000001 out of range 0..1000000"},
		{"negative duration", Config{URL: ok, Duration: -time.Second}, "duration -1s out of range"},
		{"duration too long", Config{URL: ok, Duration: time.Hour}, "duration 1h0m0s out of range 0..5m0s"},
		{"negative rate", Config{URL: ok, Rate: -1}, "rate -1 out of range"},
		{"rate too high", Config{URL: ok, Rate: MaxRate * 2}, "rate 200000 out of range"},
		{"open loop longer than max", Config{URL: ok, Requests: 1000, Rate: 1}, "requests 1000 at rate 1/s take 16m40s, over the max duration 5m0s"},
		{"open loop cut by duration", Config{URL: ok, Requests: 1000, Rate: 1, Duration: time.Minute}, ""},
		{"negative timeout", Config{URL: ok, Timeout: -1}, "timeout -1ns out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	sum, err := Run(context.Background(), Config{URL: "http://example.com/"})
	if err == nil || sum != nil {
		t.Errorf("Run(remote URL) = %v, %v; want nil, error", sum, err)
	}
}

// results makes 1ms..100ms responses (status 200, except 500 every tenth) and
// two errors.
func testResults() []Result {
	var rs []Result
	for i := 1; i <= 100; i++ {
		status := http.StatusOK
		if i%10 == 0 {
			status = http.StatusInternalServerError
		}
		rs = append(rs, Result{Latency: time.Duration(i) * time.Millisecond, Status: status, Bytes: 10})
	}
	refused := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	rs = append(rs, Result{Latency: time.Hour, Err: refused}, Result{Latency: time.Hour, Err: refused})
	return rs
}

func TestSummarize(t *testing.T) {
	sum := Summarize(testResults(), 2*time.Second)
	want := Summary{
		Requests: 102, Succeeded: 90, Errors: 2, Duration: 2 * time.Second, RPS: 51,
		Latency: LatencyStats{
			Min: time.Millisecond, Mean: 50500 * time.Microsecond,
			P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
			Max: 100 * time.Millisecond,
		},
		StatusCodes: map[int]int{200: 90, 500: 10},
		ErrorKinds:  map[string]int{"connection refused": 2},
		BytesRead:   1000,
	}
	hist := sum.Histogram
	sum.Histogram = nil
	if !reflect.DeepEqual(*sum, want) {
		t.Errorf("Summarize =\n%+v\nwant\n%+v", *sum, want)
	}
	if len(hist) < 10 || len(hist) > 20 {
		t.Errorf("%d histogram buckets, want 10..20", len(hist))
	}
	total := 0
	for i, b := range hist {
		total += b.Count
		if i > 0 && b.Le <= hist[i-1].Le {
			t.Errorf("bucket %d: le %v after %v", i, b.Le, hist[i-1].Le)
		}
	}
	if total != 100 || hist[len(hist)-1].Le != 100*time.Millisecond {
		t.Errorf("histogram %v: want 100 latencies up to 100ms", hist)
	}
}

func TestSummarizeEdgeCases(t *testing.T) {
	empty := Summarize(nil, 0)
	if empty.Requests != 0 || empty.RPS != 0 || empty.StatusCodes == nil || empty.ErrorKinds == nil || empty.Histogram == nil {
		t.Errorf("Summarize(nil) = %+v", empty)
	}
	same := Summarize([]Result{{Latency: time.Millisecond, Status: 200}, {Latency: time.Millisecond, Status: 200}}, time.Second)
	if want := []Bucket{{Le: time.Millisecond, Count: 2}}; !reflect.DeepEqual(same.Histogram, want) {
		t.Errorf("histogram of equal latencies = %v, want %v", same.Histogram, want)
	}
}

var histLine = regexp.MustCompile(`^  +\S+ \[ *\d+\] ■+$`)

func TestWriteText(t *testing.T) {
	sum := Summarize(testResults(), 2*time.Second)
	var b bytes.Buffer
	if err := WriteText(&b, sum, "reactor"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"Summary: reactor", "Requests:      102 (succeeded 90, errors 2)", "Requests/sec:  51.0",
		"Latency:", "p50", "p90", "p99", "Latency histogram:",
		"Status codes:", "[200] 90 responses", "[500] 10 responses", "Errors:", "[connection refused] 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	bars := 0
	for line := range strings.Lines(out) {
		if histLine.MatchString(strings.TrimSuffix(line, "\n")) {
			bars++
		}
	}
	nonEmpty := 0
	for _, h := range sum.Histogram {
		if h.Count > 0 {
			nonEmpty++
		}
	}
	if bars != nonEmpty {
		t.Errorf("%d histogram bars, want one per non-empty bucket (%d)", bars, nonEmpty)
	}
}

func TestWriteTable(t *testing.T) {
	sum := Summarize(testResults(), 2*time.Second)
	var b bytes.Buffer
	if err := WriteTable(&b, []string{"process", "thread"}, []*Summary{sum, nil}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want header and 2 rows", len(lines))
	}
	if got, want := strings.Fields(lines[0]), []string{"name", "req/s", "p50", "p90", "p99", "max", "errors", "non-2xx"}; !reflect.DeepEqual(got, want) {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := strings.Fields(lines[1]), []string{"process", "51.0", "50.00ms", "90.00ms", "99.00ms", "100.00ms", "2", "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("row %q, want %q", got, want)
	}
	if got := strings.Fields(lines[2]); len(got) != 8 || got[0] != "thread" || got[1] != "-" {
		t.Errorf("row for a missing summary: %q", got)
	}
	if col := strings.Index(lines[0], "req/s"); strings.Index(lines[1], "51.0") != col {
		t.Errorf("columns not aligned:\n%s", b.String())
	}
	if err := WriteTable(io.Discard, []string{"a"}, nil); err == nil {
		t.Error("WriteTable with 1 name and 0 summaries: no error")
	}
}

func TestSummaryJSON(t *testing.T) {
	sum := Summarize(testResults(), 2*time.Second)
	data, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"requests", "succeeded", "errors", "duration_ns", "rps", "latency", "status_codes", "error_kinds", "histogram", "bytes_read"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, data)
		}
	}
	if len(fields) != 10 {
		t.Errorf("JSON has %d fields, want 10: %s", len(fields), data)
	}
	lat, _ := fields["latency"].(map[string]any)
	for _, k := range []string{"min_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency lacks %q: %v", k, lat)
		}
	}
	if fields["duration_ns"] != float64(2e9) || lat["p50_ns"] != float64(50e6) {
		t.Errorf("durations are not in nanoseconds: %s", data)
	}
	hist, _ := fields["histogram"].([]any)
	if b, _ := hist[0].(map[string]any); b["le_ns"] == nil || b["count"] == nil {
		t.Errorf("bucket fields: %v", hist[0])
	}
	var back Summary
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, sum) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, *sum)
	}
}

// gatedListener accepts at most n connections at once, as a prefork server
// with n processes does: the others wait in the kernel's accept queue.
type gatedListener struct {
	net.Listener
	slots chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, free: func() { <-l.slots }}, nil
}

type slotConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.free)
	return c.Conn.Close()
}

// A client that is done closes its keep-alive connection: left idle, it
// would hold the server's only process until the server's idle timeout,
// while the other client's request waits in the accept queue, and the run
// would end that much late.
func TestFinishedClientFreesItsConnection(t *testing.T) {
	const idleTimeout = 5 * time.Second
	for _, rate := range []float64{0, 50} {
		t.Run(fmt.Sprintf("rate=%v", rate), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				time.Sleep(30 * time.Millisecond) // requests overlap: a second connection is dialled
			}))
			srv.Listener = &gatedListener{Listener: srv.Listener, slots: make(chan struct{}, 1)}
			srv.Config.IdleTimeout = idleTimeout
			srv.Start()
			t.Cleanup(srv.Close)
			begin := time.Now()
			sum := mustRun(t, Config{URL: srv.URL, Concurrency: 2, Duration: 300 * time.Millisecond, Rate: rate, KeepAlive: true})
			wall := time.Since(begin)
			t.Logf("%d requests, total %v, max latency %v", sum.Requests, sum.Duration, sum.Latency.Max)
			if sum.Errors != 0 {
				t.Errorf("errors: %v", sum.ErrorKinds)
			}
			if wall > idleTimeout/2 || sum.Duration > idleTimeout/2 {
				t.Errorf("a 300ms load took %v (total %v): a finished client's idle connection held the server until its %v idle timeout",
					wall, sum.Duration, idleTimeout)
			}
		})
	}
}

// StampSent: every request says when it was sent, between the run's
// start and the server's reading of it; the shared Header is left alone.
func TestStampSent(t *testing.T) {
	var mu sync.Mutex
	var bad []string
	stamps := map[string]bool{}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		v := r.Header.Get(experiment.SentHeader)
		sent, err := strconv.ParseInt(v, 10, 64)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || sent > now || r.Header.Get("X-Kept") != "yes" {
			bad = append(bad, v)
		}
		stamps[v] = true
	})
	h := http.Header{"X-Kept": {"yes"}}
	begin := time.Now().UnixNano()
	sum := mustRun(t, Config{URL: srv.URL, Requests: 20, Concurrency: 2, Header: h, StampSent: true})
	if sum.Succeeded != 20 || len(bad) > 0 {
		t.Fatalf("%d of 20 answered; stamps that were not a time before the server read the request: %q", sum.Succeeded, bad)
	}
	for v := range stamps {
		if n, _ := strconv.ParseInt(v, 10, 64); n < begin {
			t.Errorf("stamp %s before the run began (%d)", v, begin)
		}
	}
	if len(stamps) < 2 {
		t.Errorf("%d distinct stamps over 20 requests", len(stamps))
	}
	if len(h) != 1 {
		t.Errorf("the caller's Header was modified: %v", h)
	}
}
