package validate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

// settle is the pause after a measurement: the server closes what the
// clients left (Apache's lingering close, keep-alive connections) before
// the other side is loaded.
const settle = time.Second

// warmUp sends a few requests before a server's first measurement:
// caches, Lua's compilation, the first connections.
var warmUp = loadgen.Config{Concurrency: 4, Requests: 40}

// rampSample is how often a ramp counts the server's processes.
const rampSample = 20 * time.Millisecond

// measureRate loads url with c's load and returns the rate of 200
// responses that completed while the load ran, and a note of what else
// the load saw.
func measureRate(ctx context.Context, c *Case, url string) (float64, string, error) {
	cfg := c.Load
	cfg.URL = url
	var within atomic.Int64
	start := time.Now()
	cfg.OnResult = func(r loadgen.Result) {
		if r.Err == nil && r.Status == http.StatusOK && r.Start.Add(r.Latency).Sub(start) <= cfg.Duration {
			within.Add(1)
		}
	}
	sum, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return 0, "", err
	}
	if sum.Succeeded == 0 {
		return 0, "", fmt.Errorf("no request succeeded (%d errors %v, status codes %v)", sum.Errors, sum.ErrorKinds, sum.StatusCodes)
	}
	note := fmt.Sprintf("(%d requests, %d answered within, %d errors", sum.Requests, within.Load(), sum.Errors)
	if sum.Errors > 0 {
		note += fmt.Sprintf(" %v", sum.ErrorKinds)
	}
	note += ", p50 " + loadgen.FormatDuration(sum.Latency.P50) + ")"
	return float64(within.Load()) / cfg.Duration.Seconds(), note, nil
}

// measureRamp loads a server that has just started StartServers
// processes (children of pid) and returns the seconds from its first
// spawn to MaxRequestWorkers processes, and a note of when it spawned
// first. The load ends once they are there.
func measureRamp(ctx context.Context, c *Case, url string, pid int) (float64, string, error) {
	k := c.Knobs.Normalize()
	// Wait for the pool to be what it starts as.
	deadline := time.Now().Add(10 * time.Second)
	for children(pid) != k.StartServers {
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("%d processes, not StartServers %d, before the load", children(pid), k.StartServers)
		}
		time.Sleep(rampSample)
	}
	cfg := c.Load
	cfg.URL = url
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var loadErr error
	wg.Go(func() {
		_, loadErr = loadgen.Run(ctx, cfg)
	})
	defer wg.Wait()
	start := time.Now()
	var first time.Duration
	tick := time.NewTicker(rampSample)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-tick.C:
		}
		n, at := children(pid), time.Since(start)
		if first == 0 && n > k.StartServers {
			first = at
		}
		if n >= k.MaxRequestWorkers {
			cancel()
			return (at - first).Seconds(), fmt.Sprintf("(first spawn %.2fs into the load)", first.Seconds()), nil
		}
		if at > cfg.Duration {
			wg.Wait()
			if loadErr != nil && ctx.Err() == nil {
				return 0, "", loadErr
			}
			return 0, "", fmt.Errorf("%d processes after %v of load, not MaxRequestWorkers %d", n, cfg.Duration, k.MaxRequestWorkers)
		}
	}
}

// children counts pid's child processes: Linux lists them in
// /proc/PID/task/TID/children, under the thread that forked each (a Go
// program forks from any of its threads).
func children(pid int) int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	n := 0
	for _, t := range tasks {
		if b, err := os.ReadFile(t); err == nil {
			n += len(strings.Fields(string(b)))
		}
	}
	return n
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// get fetches url once, on a connection of its own, and returns the status.
func get(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// syncBuffer is a bytes.Buffer for a process's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// maxLog bounds what a server's output keeps for an error message.
const maxLog = 64 << 10

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() < maxLog {
		s.b.Write(p[:min(len(p), maxLog-s.b.Len())])
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
