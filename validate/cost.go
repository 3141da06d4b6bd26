package validate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The cost measurement (`mpmlab validate --cost`, issue 21): what a
// request, a prefork process and an idle connection cost each model and
// the real server it models, on the hello handler.
const (
	// costClients keep-alive clients send requests back to back while CPU
	// is measured, one client while latency is, each load for
	// CostOptions.Duration (default CostDuration).
	costClients  = 8
	CostDuration = 5 * time.Second
	// IdleConnections is how many idle keep-alive connections the loop's
	// memory per connection is measured with, where the file descriptor
	// limits allow.
	IdleConnections = 10_000
	// fdMargin is what this process keeps of its RLIMIT_NOFILE beside the
	// idle connections (the servers' logs, the load generator's sockets).
	fdMargin = 256
	// idleOpeners open the idle connections, this many at a time: fewer
	// than the listen backlog, so none is dropped.
	idleOpeners = 32
	// idleTimeout bounds one idle connection's opening and its request.
	idleTimeout = 30 * time.Second
)

// CostOptions say where the servers are and how long to load them.
type CostOptions struct {
	// Mpmlab is the mpmlab binary that runs the models (`mpmlab run`).
	Mpmlab string
	// Path is where the real servers are looked for (default DefaultPath()).
	Path string
	// TempDir holds the real servers' configurations (default os.TempDir()).
	TempDir string
	// Duration is each load's length, for CPU and for latency (default
	// CostDuration).
	Duration time.Duration
	// Idle is the number of idle connections (default IdleConnections),
	// lowered to what RLIMIT_NOFILE allows.
	Idle int
	// Progress, if not nil, gets a line per measurement.
	Progress io.Writer
}

// sideCost is what was measured of one server: the real one or a model.
type sideCost struct {
	Name string // "Apache/2.4.67 (Debian) prefork", "mpmlab process"
	// CPU is the server tree's CPU time over the load, Requests the
	// responses it answered with a 200.
	CPU      time.Duration
	Requests int
	// Child is a typical child's memory after the load (prefork pools),
	// the median over Children of them.
	Child    memKB
	Children int
	// IdleBefore and IdleAfter are the tree's memory before and after
	// IdleOpened idle connections of IdleWanted were opened.
	IdleBefore, IdleAfter  memKB
	IdleOpened, IdleWanted int
	// P50 is the median latency of LatencyRequests sent by one client.
	P50             time.Duration
	LatencyRequests int
	Skipped, Error  string
}

// perRequest is the CPU time per request answered, or 0.
func (s *sideCost) perRequest() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.Requests)
}

// perConnection is the memory per idle connection in bytes, RSS and PSS:
// the tree's growth over the connections opened.
func (s *sideCost) perConnection() (rss, pss float64) {
	if s.IdleOpened == 0 {
		return 0, 0
	}
	n := float64(s.IdleOpened)
	return float64(s.IdleAfter.RSS-s.IdleBefore.RSS) * 1024 / n, float64(s.IdleAfter.PSS-s.IdleBefore.PSS) * 1024 / n
}

// costPlan is what to measure on a side, in this order.
type costPlan struct{ cpu, children, latency, idle bool }

// costCases are the servers the cost table is measured on, each a real
// server and its model configured alike, serving hello: a prefork pool of
// 8, a worker and an event pool of one process of 8 threads (each MPM's
// other settings at their defaults), and one loop that keeps idle
// keep-alive connections open, as many as will be opened, as long as
// the measurement may take.
func costCases(idle int) []Case {
	c := func(model, server, mpm string, k experiment.Knobs) Case {
		return Case{Name: "cost-" + model, Model: model, Handler: "hello", Server: server, MPM: mpm, Lua: server + "/hello.lua", Knobs: k}
	}
	threads8 := experiment.Knobs{Processes: 1, ThreadsPerChild: 8}
	return []Case{
		c("process", "apache", "prefork", experiment.Knobs{StartServers: 8, MaxRequestWorkers: 8, MaxSpare: 8}),
		c("thread", "apache", "worker", threads8),
		c("event", "apache", "event", threads8),
		c("reactor", "nginx", "", experiment.Knobs{Loops: 1, Connections: min(idle, experiment.MaxConnections),
			KeepAliveTimeoutMS: experiment.MaxKeepAliveMS}),
	}
}

// RunCost measures the costs of issue 21's table on the hello handler and
// returns its rows. A real server not installed leaves its rows' real
// side skipped (the models are still measured); a side that cannot be
// measured has its rows' Error set. RunCost itself fails only when ctx is
// done.
func RunCost(ctx context.Context, opts CostOptions) ([]CostRow, error) {
	if opts.Path == "" {
		opts.Path = DefaultPath()
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Duration <= 0 {
		opts.Duration = CostDuration
	}
	if opts.Idle <= 0 {
		opts.Idle = IdleConnections
	}
	idle, limit := models.RaiseNoFile(opts.Idle, fdMargin)
	var idleNote string
	if idle < opts.Idle {
		idleNote = fmt.Sprintf("%d idle connections, not %d: this process may open %d files (RLIMIT_NOFILE)", idle, opts.Idle, limit)
		cprogress(opts, "%s", idleNote)
	}
	cases := costCases(idle)
	var m costMeasures
	steps := []struct {
		c     Case
		real  *sideCost
		model *sideCost
		plan  costPlan // the model's; the real side's is the same without latency
	}{
		{cases[0], &m.prefork, &m.process, costPlan{cpu: true, children: true, latency: true}},
		{cases[1], &m.worker, &m.thread, costPlan{cpu: true}},
		{cases[2], &m.event, &m.eventModel, costPlan{cpu: true}},
		{cases[3], &m.nginx, &m.reactor, costPlan{cpu: true, latency: true, idle: true}},
	}
	for _, st := range steps {
		c := st.c
		realPlan := st.plan
		realPlan.latency = false
		*st.real = sideCost{Name: strings.TrimSpace(c.Server + " " + c.MPM)}
		if bin, err := find(&c, opts.Path); err != nil {
			st.real.Skipped = err.Error()
			cprogress(opts, "%s: skipped: %v", st.real.Name, err)
		} else {
			st.real.Name = strings.TrimSpace(version(bin) + " " + c.MPM)
			measureCost(ctx, opts, st.real, idle, realPlan, func() (*server, func(), error) {
				return startReal(ctx, &c, bin, opts.TempDir)
			})
		}
		*st.model = sideCost{Name: "mpmlab " + c.Model}
		measureCost(ctx, opts, st.model, idle, st.plan, func() (*server, func(), error) {
			s, err := startModel(ctx, &c, opts.Mpmlab)
			return s, func() {}, err
		})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	m.native = sideCost{Name: "native Go net/http"}
	measureCost(ctx, opts, &m.native, idle, costPlan{latency: true}, func() (*server, func(), error) {
		return startNative(ctx, opts.Progress)
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rows := costRows(&m)
	if idleNote != "" {
		for i := range rows {
			if rows[i].Name == "memory-connection" {
				rows[i].Note = strings.TrimPrefix(rows[i].Note+"; "+idleNote, "; ")
			}
		}
	}
	return rows, nil
}

// measureCost starts a side's server, warms it up, measures what plan
// says into s, and stops it.
func measureCost(ctx context.Context, opts CostOptions, s *sideCost, idle int, plan costPlan, start func() (*server, func(), error)) {
	fail := func(what string, err error) {
		s.Error = fmt.Sprintf("%s: %s: %v", s.Name, what, err)
		cprogress(opts, "%s", s.Error)
	}
	srv, cleanup, err := start()
	if err != nil {
		fail("starting", err)
		return
	}
	defer func() { srv.stop(); cleanup() }()
	warm := warmUp
	warm.URL = srv.url
	if _, err := loadgen.Run(ctx, warm); err != nil {
		fail("warming up", err)
		return
	}
	if plan.cpu {
		if err := measureCPU(ctx, srv, opts.Duration, s); err != nil {
			fail("CPU per request", err)
			return
		}
		cprogress(opts, "%s: %s of CPU per request (%d requests in %v, %d clients)", s.Name,
			loadgen.FormatDuration(s.perRequest()), s.Requests, opts.Duration, costClients)
	}
	if plan.children {
		if s.Child, s.Children, err = childMemory(srv.pid()); err != nil {
			fail("memory per process", err)
			return
		}
		cprogress(opts, "%s: a child's RSS %s, PSS %s (medians of %d)", s.Name, mib(s.Child.RSS), mib(s.Child.PSS), s.Children)
	}
	if plan.latency {
		sum, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Concurrency: 1, KeepAlive: true, Duration: opts.Duration})
		if err == nil && sum.Succeeded == 0 {
			err = fmt.Errorf("no request succeeded (%d errors %v)", sum.Errors, sum.ErrorKinds)
		}
		if err != nil {
			fail("latency at one client", err)
			return
		}
		s.P50, s.LatencyRequests = sum.Latency.P50, sum.Succeeded
		cprogress(opts, "%s: p50 %s at one client (%d requests)", s.Name, loadgen.FormatDuration(s.P50), s.LatencyRequests)
	}
	if plan.idle {
		if err := measureIdle(ctx, srv, idle, s); err != nil {
			fail("memory per idle connection", err)
			return
		}
		rss, pss := s.perConnection()
		cprogress(opts, "%s: %d idle connections: RSS %+.0f B, PSS %+.0f B each", s.Name, s.IdleOpened, rss, pss)
	}
	if srv.exited() {
		fail("exited", errors.New(srv.log()))
	}
}

// measureCPU loads srv with costClients keep-alive clients for d and
// records the server tree's CPU time over the load and the requests it
// answered.
func measureCPU(ctx context.Context, srv *server, d time.Duration, s *sideCost) error {
	cpu0, err := treeCPU(srv.pid())
	if err != nil {
		return err
	}
	sum, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Concurrency: costClients, KeepAlive: true, Duration: d})
	if err != nil {
		return err
	}
	cpu1, err := treeCPU(srv.pid())
	if err != nil {
		return err
	}
	ok := sum.StatusCodes[http.StatusOK]
	if ok == 0 {
		return fmt.Errorf("no request answered 200 (%d errors %v, status codes %v)", sum.Errors, sum.ErrorKinds, sum.StatusCodes)
	}
	s.CPU, s.Requests = cpu1-cpu0, ok
	return nil
}

// measureIdle opens n idle keep-alive connections to srv, each having
// sent one request and read its answer, and records the server tree's
// memory before and after; then closes them.
func measureIdle(ctx context.Context, srv *server, n int, s *sideCost) error {
	before, err := treeMemory(srv.pid())
	if err != nil {
		return err
	}
	conns, err := openIdle(ctx, srv.url, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	after, err := treeMemory(srv.pid())
	if err != nil {
		return err
	}
	s.IdleBefore, s.IdleAfter, s.IdleOpened, s.IdleWanted = before, after, len(conns), n
	return nil
}

// openIdle opens n connections to rawURL's host, sends one GET on each
// and reads its 200 answer, leaving the connection open: what an idle
// keep-alive client leaves a server. It fails if any does not get there.
func openIdle(ctx context.Context, rawURL string, n int) ([]net.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	request := []byte("GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")
	var (
		mu       sync.Mutex
		conns    []net.Conn
		firstErr error
		failed   int
		next     = make(chan struct{})
		wg       sync.WaitGroup
	)
	open := func() (net.Conn, error) {
		d := net.Dialer{Timeout: idleTimeout}
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(idleTimeout))
		if _, err := c.Write(request); err != nil {
			c.Close()
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			c.Close()
			return nil, fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
		}
		c.SetDeadline(time.Time{})
		return c, nil
	}
	for range idleOpeners {
		wg.Go(func() {
			for range next {
				c, err := open()
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return conns, ctx.Err()
	}
	if failed > 0 {
		return conns, fmt.Errorf("%d of %d connections failed to stay open after a request; the first: %v", failed, n, firstErr)
	}
	return conns, nil
}

// startNative builds the hello example for this machine (the guest SDK's
// Serve is then net/http) and starts it: the baseline for latency.
func startNative(ctx context.Context, progress io.Writer) (*server, func(), error) {
	src, err := runtime.ExampleSource("hello")
	if err != nil {
		return nil, nil, err
	}
	b := &runtime.Builder{Progress: func(msg string) {
		if progress != nil {
			fmt.Fprintf(progress, "validate: native: %s\n", msg)
		}
	}}
	art, err := b.Build(ctx, src, runtime.TargetNative)
	if err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	var out syncBuffer
	cmd := exec.Command(art.Path)
	cmd.Env = append(os.Environ(), "MPMLAB_ADDR=127.0.0.1:"+port)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s, err := startServer(cmd, "http://127.0.0.1:"+port+"/", func() string { return strings.TrimSpace(out.String()) })
	if err != nil {
		return nil, nil, err
	}
	if err := waitReady(ctx, s); err != nil {
		s.stop()
		return nil, nil, fmt.Errorf("%s: %w", art.Path, err)
	}
	return s, func() {}, nil
}

func cprogress(opts CostOptions, format string, args ...any) {
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "validate: cost: "+format+"\n", args...)
	}
}
