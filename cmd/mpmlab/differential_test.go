package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDifferential serves the same handler source natively (built with the
// host's Go: net/http itself) and under each model (the real mpmlab run),
// sends each target the same requests, and compares what comes back:
// status, headers (but Date and X-Mpmlab-Worker), framing, trailers, body.
// Each case also checks its timing or memory property on every target.
//
// To add a case, add a diffCase to diffCases: its check talks to one
// target and returns what must be the same everywhere.
func TestDifferential(t *testing.T) {
	sources := map[string]bool{}
	for _, c := range diffCases {
		sources[c.source] = true
	}
	for source := range sources {
		targets := []*diffTarget{startNative(t, source)}
		for _, m := range []string{"process", "thread", "reactor", "event"} {
			targets = append(targets, startModel(t, m, source))
		}
		for _, c := range diffCases {
			if c.source != source {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				var want any
				for i, tg := range targets {
					got := c.check(t, tg)
					if t.Failed() {
						return
					}
					if i == 0 {
						want = got
						continue
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s differs from native:\n got  %#v\n want %#v", tg.name, got, want)
					}
				}
			})
		}
	}
}

// The handler sources of TestDifferential, relative to this directory.
const (
	diffHandler   = "testdata/differential"
	diffWebSocket = "../../wasm/examples/websocket"
)

type diffCase struct {
	name   string
	source string
	// check runs the case against tg and returns what must be equal on
	// every target.
	check func(t *testing.T, tg *diffTarget) any
}

var diffCases = []diffCase{
	{"streaming", diffHandler, func(t *testing.T, tg *diffTarget) any {
		// The first line comes within 50 ms of the handler's Flush (it
		// says when that was), well before the handler returns. The
		// machine may be busy: the best of three tries counts (a Flush
		// that sends nothing is 400 ms late every time).
		var lags []time.Duration
		for try := 0; try < 3; try++ {
			lag, got := streamOnce(t, tg)
			lags = append(lags, lag)
			if lag < 50*time.Millisecond {
				return got
			}
		}
		t.Errorf("%s: the first line came %v after its Flush, want < 50ms", tg.name, lags)
		return nil
	}},
	{"sse", diffHandler, func(t *testing.T, tg *diffTarget) any {
		// Each event arrives on its own, as it is flushed.
		resp, err := http.Get(tg.url + "/sse")
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var events []string
		var lags []time.Duration
		for i := 0; i < 3; i++ {
			var ev []string
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: event %d: %v", tg.name, i, err)
				}
				if l == "\n" {
					break
				}
				ev = append(ev, l)
			}
			arrived := time.Now()
			var k int
			var stamp int64
			fmt.Sscanf(ev[len(ev)-1], "data: tick %d %d", &k, &stamp)
			lags = append(lags, arrived.Sub(time.Unix(0, stamp)))
			events = append(events, ev[0])
		}
		// Each came before the next was written (150 ms later), and the
		// quickest within 50 ms of its Flush.
		if slices.Max(lags) >= 150*time.Millisecond || slices.Min(lags) >= 50*time.Millisecond {
			t.Errorf("%s: the events came %v after they were flushed, want each < 150ms (before the next), one < 50ms", tg.name, lags)
		}
		return []any{summary(resp), events}
	}},
	{"cancellation", diffHandler, func(t *testing.T, tg *diffTarget) any {
		// The client goes away while the handler waits on r.Context():
		// Done within 100 ms (the best of three tries: a context never
		// cancelled is 5 s late every time).
		var lags []time.Duration
		for try := 0; try < 3; try++ {
			lag, got := cancelOnce(t, tg)
			lags = append(lags, lag)
			if lag < 100*time.Millisecond {
				return got
			}
		}
		t.Errorf("%s: the context was done %v after the disconnect, want < 100ms", tg.name, lags)
		return nil
	}},
	{"64MiB response", diffHandler, func(t *testing.T, tg *diffTarget) any {
		const n = 64 << 20
		var got int64
		var sum uint32
		grew := tg.rssGrowth(t, func() {
			resp, err := http.Get(fmt.Sprintf("%s/big?n=%d", tg.url, n))
			if err != nil {
				t.Fatalf("%s: %v", tg.name, err)
			}
			defer resp.Body.Close()
			h := crc32.NewIEEE()
			got, err = io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", tg.name, got, err)
			}
			sum = h.Sum32()
		})
		if grew >= 16<<20 {
			t.Errorf("%s: a worker's RSS grew by %d MiB serving 64 MiB, want < 16", tg.name, grew>>20)
		}
		return []any{got, sum}
	}},
	{"64MiB upload", diffHandler, func(t *testing.T, tg *diffTarget) any {
		const n = 64 << 20
		var body string
		grew := tg.rssGrowth(t, func() {
			req, _ := http.NewRequest("PUT", tg.url+"/upload", io.LimitReader(pattern{}, n))
			req.ContentLength = n
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tg.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		})
		if grew >= 16<<20 {
			t.Errorf("%s: a worker's RSS grew by %d MiB reading 64 MiB, want < 16", tg.name, grew>>20)
		}
		if !strings.HasPrefix(body, strconv.Itoa(n)+" ") {
			t.Errorf("%s: %q", tg.name, body)
		}
		return body
	}},
	{"trailers", diffHandler, rawCase("GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"103 early hints", diffHandler, rawCase("GET /early HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"headers after WriteHeader", diffHandler, rawCase("GET /late HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"sniffing", diffHandler, rawCase("GET /sniff HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"204 not sniffed", diffHandler, rawCase("GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"content-length framing", diffHandler, rawCase("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"chunked framing", diffHandler, rawCase("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"wrong content-length", diffHandler, rawCase("GET /badlen HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"HTTP/1.0", diffHandler, rawCase("GET /info HTTP/1.0\r\nHost: x\r\n\r\n")},
	{"the experiment's own file", diffHandler, rawCase("GET /file HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"a time zone", diffHandler, rawCase("GET /tz HTTP/1.1\r\nHost: x\r\n\r\n")},
	{"Connection: close", diffHandler, rawCase("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")},
	{"chunked request", diffHandler, rawCase("POST /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")},
	{"expect 100-continue refused", diffHandler, rawCase("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")},
	{"expect 100-continue read", diffHandler, func(t *testing.T, tg *diffTarget) any {
		// The 100 comes once the handler reads; then the body goes.
		c := tg.dial(t)
		defer c.Close()
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		first, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		io.WriteString(c, "hello")
		final, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		b, _ := io.ReadAll(final.Body)
		return []any{first.StatusCode, summary(final), string(b)}
	}},
	{"websocket echo", diffWebSocket, func(t *testing.T, tg *diffTarget) any {
		c := tg.dial(t)
		defer c.Close()
		key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: handshake: %v", tg.name, err)
		}
		h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
			t.Fatalf("%s: handshake answered %d %v", tg.name, resp.StatusCode, resp.Header)
		}
		var got []string
		big := strings.Repeat("ws", 40000) // 80 KB: a 64-bit length, several frames of the ABI
		for _, m := range []struct {
			op  byte
			msg string
		}{{1, "hello"}, {9, "ping"}, {1, big}, {8, "\x03\xe8"}} {
			wsWrite(c, m.op, []byte(m.msg))
			op, msg, err := wsRead(br)
			if err != nil {
				t.Fatalf("%s: echo of op %d: %v", tg.name, m.op, err)
			}
			if string(msg) != m.msg {
				t.Errorf("%s: op %d echoed %d bytes, want %d", tg.name, m.op, len(msg), len(m.msg))
			}
			got = append(got, fmt.Sprintf("%d:%d", op, len(msg)))
		}
		// The server closes the connection after the close frame.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: after the close frame: %v, want EOF", tg.name, err)
		}
		return []any{summary(resp), got}
	}},
}

// rawCase sends req as is on a new connection and returns every response
// (1xx included) as summaries, with their bodies.
func rawCase(req string) func(t *testing.T, tg *diffTarget) any {
	return func(t *testing.T, tg *diffTarget) any {
		c := tg.dial(t)
		defer c.Close()
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		var out []any
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v (after %v)", tg.name, err, out)
			}
			b, err := io.ReadAll(resp.Body)
			s := summary(resp)
			s.Body, s.BodyErr = string(b), err != nil
			out = append(out, s)
			if resp.StatusCode >= 200 {
				if resp.Close {
					// net/http closes: nothing more comes.
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, err := br.ReadByte()
					s := out[len(out)-1].(respSummary)
					s.ClosedAfter = err == io.EOF
					out[len(out)-1] = s
				}
				return out
			}
		}
	}
}

// respSummary is what a response must have alike on every target.
type respSummary struct {
	Proto            string
	Status           int
	Header           map[string][]string
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Trailer          map[string][]string
	Body             string
	BodyErr          bool
	ClosedAfter      bool
}

// summary is resp's summary; its trailers are complete once the body has
// been read.
func summary(resp *http.Response) respSummary {
	h := map[string][]string{}
	for k, v := range resp.Header {
		if k != "Date" && k != "X-Mpmlab-Worker" {
			h[k] = v
		}
	}
	var tr map[string][]string
	if len(resp.Trailer) > 0 {
		tr = resp.Trailer
	}
	return respSummary{Proto: resp.Proto, Status: resp.StatusCode, Header: h, ContentLength: resp.ContentLength,
		TransferEncoding: resp.TransferEncoding, Close: resp.Close, Trailer: tr}
}

// diffTarget is one server of the handler: native, or a model.
type diffTarget struct {
	name  string
	url   string
	addr  string
	pids  func() []int
	logs  func() string
	trace string // mpmlab run's --trace file
}

func (tg *diffTarget) dial(t *testing.T) net.Conn {
	c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	return c
}

// rssGrowth runs f and returns how much the RSS of the target's processes
// (each of them) grew above what it was before f, at most.
func (tg *diffTarget) rssGrowth(t *testing.T, f func()) int64 {
	pids := tg.pids()
	base := map[int]int64{}
	for _, p := range pids {
		base[p] = rss(p)
	}
	var mu sync.Mutex
	peak := map[int]int64{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			mu.Lock()
			for _, p := range pids {
				peak[p] = max(peak[p], rss(p))
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	var grew int64
	for _, p := range pids {
		if base[p] > 0 && peak[p] > 0 {
			grew = max(grew, peak[p]-base[p])
		}
	}
	return grew
}

// rss is pid's resident set in bytes (0 if it is gone).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cancelledInTrace reports whether the trace holds the req_end of path
// marked cancelled.
func (tg *diffTarget) cancelledInTrace(t *testing.T, path string) bool {
	b, _ := os.ReadFile(tg.trace)
	for _, l := range bytes.Split(b, []byte("\n")) {
		var e struct {
			Kind      string `json:"kind"`
			Path      string `json:"path"`
			Cancelled bool   `json:"cancelled"`
		}
		if json.Unmarshal(l, &e) == nil && e.Kind == "req_end" && e.Path == path {
			if !e.Cancelled {
				t.Errorf("%s: req_end of %s not marked cancelled: %s", tg.name, path, l)
			}
			return true
		}
	}
	return false
}

// startNative builds source with the host's Go and runs it: the SDK's
// native Serve is net/http's ListenAndServe.
func startNative(t *testing.T, source string) *diffTarget {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "native")
	if out, err := exec.Command("go", "build", "-o", bin, "./"+source).CombinedOutput(); err != nil {
		t.Fatalf("building %s natively: %v\n%s", source, err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Dir = source // its own files beside it, as the experiment's are in the sandbox
	cmd.Env = append(os.Environ(), "MPMLAB_ADDR="+addr)
	var mu sync.Mutex
	var logs strings.Builder
	cmd.Stdout = writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(b) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 10*time.Second, "the native server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &diffTarget{name: "native", url: "http://" + addr, addr: addr,
		pids: func() []int { return []int{cmd.Process.Pid} },
		logs: func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }}
}

// startModel serves source under model with mpmlab run, tracing.
func startModel(t *testing.T, model, source string) *diffTarget {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace.jsonl")
	s := startRun(t, "--model", model, "--trace", trace, source)
	return &diffTarget{name: model, url: s.URL, addr: strings.TrimPrefix(s.URL, "http://"),
		pids: s.Workers, logs: s.Logs, trace: trace}
}

// pattern is an endless reader of a fixed pattern.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

// A minimal WebSocket client (RFC 6455): masked frames out, unmasked in.

func wsWrite(w io.Writer, op byte, payload []byte) {
	var b []byte
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	w.Write(b)
}

func wsRead(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("a server's frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// streamOnce gets /stream and returns how long after its Flush the first
// line came, and what must be alike on every target.
func streamOnce(t *testing.T, tg *diffTarget) (time.Duration, any) {
	c := tg.dial(t)
	defer c.Close()
	fmt.Fprintf(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	body := bufio.NewReader(resp.Body)
	line, err := body.ReadString('\n')
	arrived := time.Now()
	if err != nil {
		t.Fatalf("%s: first line: %v", tg.name, err)
	}
	var flushed int64
	fmt.Sscanf(line, "flushed %d", &flushed)
	rest, _ := io.ReadAll(body)
	if d := time.Since(arrived); d < 300*time.Millisecond {
		t.Errorf("%s: the end came %v after the first line: the first was held back", tg.name, d)
	}
	return arrived.Sub(time.Unix(0, flushed)), []any{summary(resp), string(rest)}
}

// cancelOnce has /wait's client go away and returns how long after that
// the handler saw its context done.
func cancelOnce(t *testing.T, tg *diffTarget) (time.Duration, any) {
	tag := fmt.Sprintf("%s-%d", tg.name, time.Now().UnixNano())
	c := tg.dial(t)
	fmt.Fprintf(c, "GET /wait?tag=%s HTTP/1.1\r\nHost: x\r\n\r\n", tag)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	if l, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || l != "waiting\n" {
		t.Fatalf("%s: %q, %v", tg.name, l, err)
	}
	c.Close()
	gone := time.Now()
	re := regexp.MustCompile(`cancelled ` + regexp.QuoteMeta(tag) + ` at (\d+)`)
	var m []string
	waitFor(t, 3*time.Second, "the handler to see its context done", func() bool {
		m = re.FindStringSubmatch(tg.logs())
		return m != nil
	})
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	if tg.trace != "" {
		waitFor(t, 3*time.Second, "a req_end event saying cancelled", func() bool {
			return tg.cancelledInTrace(t, "/wait?tag="+tag)
		})
	}
	return time.Unix(0, ns).Sub(gone), summary(resp)
}

// A response that waits for its client holds what its model says: the only
// process of a prefork pool, or the only thread of a worker process, until
// it ends; nothing of a loop, whose other requests are answered meanwhile.
func TestStreamHoldsLaneNotLoop(t *testing.T) {
	for _, m := range []struct {
		model string
		args  []string
		holds bool
	}{
		{"process", []string{"--start-servers", "1", "--max-request-workers", "1", "--min-spare", "-1", "--max-spare", "1"}, true},
		{"thread", []string{"--processes", "1", "--threads-per-child", "1"}, true},
		{"reactor", nil, false},
	} {
		t.Run(m.model, func(t *testing.T) {
			s := startRun(t, append(append([]string{"--model", m.model}, m.args...), diffHandler)...)
			addr := strings.TrimPrefix(s.URL, "http://")
			// A client that reads the head of 64 MiB and then nothing: the
			// handler parks once the socket's buffers and the window are
			// full.
			stalled, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer stalled.Close()
			fmt.Fprintf(stalled, "GET /big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", 64<<20)
			if _, err := http.ReadResponse(bufio.NewReader(stalled), nil); err != nil {
				t.Fatal(err)
			}
			// Another request, on its own connection.
			answered := make(chan response, 1)
			go func() { answered <- get(s.URL + "/small") }()
			if !m.holds {
				select {
				case r := <-answered:
					mustOK(t, r)
				case <-time.After(10 * time.Second):
					t.Fatal("the loop did not answer while a response waited for its client")
				}
				return
			}
			select {
			case r := <-answered:
				t.Fatalf("answered (%d %q) while the only lane streamed to a stalled client", r.Status, r.Body)
			case <-time.After(500 * time.Millisecond):
			}
			stalled.Close() // the stream fails, its lane is free
			select {
			case r := <-answered:
				mustOK(t, r)
			case <-time.After(10 * time.Second):
				t.Fatal("not answered once the stalled client went away")
			}
		})
	}
}
