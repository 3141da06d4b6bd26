package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// benchResult is one model's (or the baseline's) part of `bench --json`.
type benchResult struct {
	Model   string `json:"model"`   // process, thread, reactor or native
	Workers int    `json:"workers"` // worker processes at the end of the run
	RSSKB   int    `json:"rss_kb"`  // their resident memory, summed, in KiB
	// PSSKB is their proportional set size, summed: resident memory with
	// each page shared by n processes (the binary's text, above all)
	// counted 1/n in each.
	PSSKB int `json:"pss_kb"`
	// PSSBeforeKB is the same processes' PSS after the warm-up, before
	// the measured load; ConnsHeld the connections they held open when
	// PSSKB was sampled (models.HeldConns); PerConnKB the memory per open
	// connection, stream.PerConnKB of the three (-1: fewer than
	// stream.MinConnsPerConn held).
	PSSBeforeKB int              `json:"pss_before_kb"`
	ConnsHeld   int              `json:"conns_held"`
	PerConnKB   float64          `json:"per_conn_kb"`
	Summary     *loadgen.Summary `json:"summary"`         // the load generator's summary
	Ratio       float64          `json:"ratio,omitempty"` // req/s relative to the native baseline, if measured
	// CPUPerRequest is the server's CPU time (user and system, every
	// worker process, from the kernel's accounting) during the measured
	// load, divided by the requests answered; CPURatio is it relative to
	// the native baseline's, if measured.
	CPUPerRequest time.Duration  `json:"cpu_per_request_ns"`
	CPURatio      float64        `json:"cpu_ratio,omitempty"`
	Server        *serverSummary `json:"server,omitempty"`
	// Groups are each load group's part (a load of several groups, or
	// given by --load).
	Groups []benchGroup `json:"groups,omitempty"`
	Error  string       `json:"error,omitempty"` // why this model could not be measured
}

// benchGroup is one load group's part of a result.
type benchGroup struct {
	Name    string           `json:"name"`
	Summary *loadgen.Summary `json:"summary"`
	Server  *serverSummary   `json:"server,omitempty"`
}

// serverSummary is what the workers measured of the requests that got a
// response: their server-side phases (models.PhasesHeader).
type serverSummary struct {
	Wait    percentiles `json:"wait"`    // delivered to the instance → handler runs
	Service percentiles `json:"service"` // handler runs → returns
	// LongestHold is the longest time one request held a loop while
	// nothing else could run in it (reactor only).
	LongestHold *hold `json:"longest_hold,omitempty"`
}

type percentiles struct {
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

type hold struct {
	NS    time.Duration `json:"ns"`
	Group string        `json:"group,omitempty"` // the request's load group
	Path  string        `json:"path"`            // the request URI, path and query
	Where string        `json:"where"`           // the position in the handler's source, "main.go:22"
}

// phaseCollector gathers the phases the workers send back, from the load
// generator's goroutines: the whole load's, and each group's.
type phaseCollector struct {
	mu     sync.Mutex
	all    phases
	groups []phases // by loadgen.Result.Group
	paths  []string // each group's request URI
}

// phases are the server-side phases of a stream of requests.
type phases struct {
	wait, service []time.Duration
	hold          hold
}

func newPhaseCollector(names, paths []string) *phaseCollector {
	c := &phaseCollector{groups: make([]phases, len(paths)), paths: paths}
	for i := range c.groups {
		c.groups[i].hold.Group, c.groups[i].hold.Path = names[i], paths[i]
	}
	return c
}

func (c *phaseCollector) onResult(r loadgen.Result) {
	p, ok := models.ParsePhases(r.Header.Get(models.PhasesHeader))
	if !ok || r.Err != nil || r.Group < 0 || r.Group >= len(c.groups) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := &c.groups[r.Group]
	if p.Hold > c.all.hold.NS { // the load's longest: named by its group
		c.all.hold = hold{NS: p.Hold, Where: p.Where, Group: g.hold.Group, Path: g.hold.Path}
	}
	c.all.wait = append(c.all.wait, p.Wait)
	c.all.service = append(c.all.service, p.Service)
	g.add(p)
}

func (ph *phases) add(p models.RequestPhases) {
	ph.wait = append(ph.wait, p.Wait)
	ph.service = append(ph.service, p.Service)
	if p.Hold > ph.hold.NS {
		ph.hold.NS, ph.hold.Where = p.Hold, p.Where
	}
}

// summary returns the collected phases of the whole load and of each
// group (nil where none came back).
func (c *phaseCollector) summary(model models.Model) (*serverSummary, []*serverSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	loop := false
	if p, _ := models.PolicyOf(model); p != nil {
		loop = p.Loop()
	}
	groups := make([]*serverSummary, len(c.groups))
	for i := range c.groups {
		groups[i] = c.groups[i].summary(loop)
	}
	return c.all.summary(loop), groups
}

func (ph *phases) summary(loop bool) *serverSummary {
	if len(ph.wait) == 0 {
		return nil
	}
	pct := func(d []time.Duration) percentiles {
		slices.Sort(d)
		return percentiles{P50: experiment.Percentile(d, 0.50), P99: experiment.Percentile(d, 0.99)}
	}
	s := &serverSummary{Wait: pct(ph.wait), Service: pct(ph.service)}
	if loop {
		h := ph.hold
		s.LongestHold = &h
	}
	return s
}

// benchLoad is the load bench sends to each target: the load generator's
// groups, each with its request URI, for the target's base URL.
type benchLoad struct {
	load  loadgen.Load
	names []string
	paths []string
}

// at returns the load against base ("http://127.0.0.1:PORT").
func (b benchLoad) at(base string) loadgen.Load {
	l := b.load
	l.Groups = slices.Clone(l.Groups)
	for i := range l.Groups {
		l.Groups[i].URL = base + b.paths[i]
	}
	return l
}

// grouped reports whether the load is reported group by group.
func (b benchLoad) grouped() bool { return len(b.paths) > 1 || b.names[0] != "" }

// loadFile reads a load object, as an experiment's "load" (one group or
// several), from path.
func loadFile(path string) (benchLoad, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return benchLoad{}, usageError{err}
	}
	var l experiment.Load
	if err := experiment.DecodeJSON(bytes.NewReader(data), &l); err != nil {
		return benchLoad{}, usagef("--load %s: %v", path, err)
	}
	l = l.Normalize()
	if err := l.Validate(); err != nil {
		return benchLoad{}, usagef("--load %s: %v", path, err)
	}
	b := benchLoad{load: loadgen.FromExperiment(l, "", 0)}
	for _, g := range l.Traffic() {
		b.names = append(b.names, g.Name)
		b.paths = append(b.paths, g.Path)
	}
	return b, nil
}

const benchDescription = `
Start a handler under one model, or each of the four in turn (--model all),
drive it with the built-in load generator on loopback, and print a summary per
model plus a side-by-side table.

Load is a closed loop (--concurrency clients, each sending its next request
when the last one answers) for --requests requests or --duration, or an open
loop (--rate requests per second on a fixed schedule, whatever the server
does): closed loops hide queueing delay (coordinated omission), open loops
show it. --baseline also measures the same handler built natively and served
by Go's net/http, and reports each model's req/s as a ratio of it.

--load FILE reads the load from FILE in place of the load flags: a load
object as in an experiment's JSON, one request or several groups run at once
(as k6's scenarios), each with its own request and arrival, e.g.
  {"groups": [{"name": "fast", "path": "/hello", "concurrency": 10},
              {"name": "slow", "path": "/?ms=200", "rate": 2, "concurrency": 4}],
   "duration_ms": 8000}
Each group is then reported on its own as well.

--json prints {"results": [...]} where each result has:
  model      the model (--model), or native
  workers    worker processes at the end of the run
  rss_kb     their resident memory, summed (KiB)
  pss_kb     their proportional set size, summed (KiB): pages shared by n
             processes (the binary's text) count 1/n in each; sampled at
             80% of a load bound by --duration, else after it
  pss_before_kb
             their PSS after the warm-up, before the measured load
  conns_held the connections they held open at that sample (accepted, not
             closed, as the kernel counts them)
  per_conn_kb
             memory per open connection: (pss_kb - pss_before_kb) /
             conns_held; -1 (n/a) when fewer than 100 were held
  ratio      req/s relative to the native baseline (with --baseline)
  cpu_per_request_ns
             the server's CPU time (user and system, all its processes,
             from the kernel's accounting) over the load, per answered request
  cpu_ratio  cpu_per_request_ns relative to the native baseline's
  summary    requests, succeeded, errors, duration_ns, rps,
             latency {min_ns, mean_ns, p50_ns, p90_ns, p99_ns, max_ns},
             status_codes, error_kinds, histogram [{le_ns, count}], bytes_read
  server     what the workers measured of each answered request:
             wait {p50_ns, p99_ns}: delivered to its guest instance until
               its handler ran (queued behind whatever held a loop);
             service {p50_ns, p99_ns}: its handler running until it returned;
             longest_hold {ns, path, where} (reactor): the longest time one
               request held the loop while nothing else could, its request
               URI, and the position in the handler's source that held it
  groups     with --load: [{name, summary, server}], each group's own
  error      set when the model could not be measured`

func benchCmd(args []string) error {
	fs := newFlags("bench", modelSynopsis(true)+" [model knobs] [load flags] PATH", benchDescription)
	m := addModelFlags(fs, true)
	fs.Lookup("addr").DefValue = "127.0.0.1:0"
	m.addr = "127.0.0.1:0"
	concurrency := fs.Int("concurrency", 10, "closed loop: clients; open loop: most requests in flight")
	requests := fs.Int("requests", 0, "requests per model (0: run for --duration)")
	duration := fs.Duration("duration", 5*time.Second, "how long to load each model when --requests is 0")
	rate := fs.Float64("rate", 0, "open loop: send this many requests per second on a fixed schedule")
	think := fs.Duration("think", 0, "closed loop: each client waits this long after a response before its next request, its connection kept (e.g. 1s)")
	keepalive := fs.Bool("client-keepalive", true, "clients reuse connections (the server's --keepalive must allow it)")
	path := fs.String("path", "/", "request path and query, e.g. /?ms=50")
	loadPath := fs.String("load", "", "read the load from this JSON file (an experiment's load object, groups allowed) in place of the load flags")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	baseline := fs.Bool("baseline", false, "also measure the handler built natively (net/http) and report ratios")
	phases := fs.Bool("server-phases", true, "measure each request's server-side wait and service (false: without that bookkeeping, to see its cost)")
	pos, err := parse(fs, args, 1, "PATH: a .go file, a directory, a .txtar file or an example name")
	if err != nil {
		return err
	}
	raiseNoFile("bench")
	var list []models.Model
	if m.model == experiment.AllModels {
		list = models.Models
	} else {
		model, err := models.ParseModel(m.model)
		if err != nil {
			return usageError{fmt.Errorf("%v, or all", err)}
		}
		list = []models.Model{model}
	}
	for _, model := range list {
		if _, err := m.config(model, "x.wasm"); err != nil {
			return err
		}
	}
	var load benchLoad
	if *loadPath != "" {
		if load, err = loadFile(*loadPath); err != nil {
			return err
		}
	} else {
		if !strings.HasPrefix(*path, "/") {
			return usagef("path %q must start with /", *path)
		}
		c := loadgen.Config{Concurrency: *concurrency, Requests: *requests, Rate: *rate, Think: *think, KeepAlive: *keepalive, URL: "http://127.0.0.1:1" + *path}
		if *requests == 0 {
			c.Duration = *duration
		}
		load = benchLoad{load: loadgen.Load{Groups: []loadgen.Group{{Config: c}}}, names: []string{""}, paths: []string{*path}}
	}
	if err := load.at("http://127.0.0.1:1").Validate(); err != nil {
		return usageError{err}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	art, src, err := buildSource(ctx, pos[0], runtime.TargetWASI, runtime.DefaultBuildTimeout, os.Stderr)
	if err != nil {
		return err
	}
	m.files = src.Files
	var results []benchResult
	if *baseline {
		results = append(results, benchNative(ctx, pos[0], load, m))
	}
	for _, model := range list {
		cfg, _ := m.config(model, art.Path)
		cfg.NoPhases = !*phases
		fmt.Fprintf(os.Stderr, "bench: %s: starting workers...\n", model)
		results = append(results, benchModel(ctx, cfg, load))
		if ctx.Err() != nil {
			break
		}
	}
	if *baseline && results[0].Summary != nil && results[0].Summary.RPS > 0 {
		for i := range results[1:] {
			if s := results[i+1].Summary; s != nil {
				results[i+1].Ratio = s.RPS / results[0].Summary.RPS
			}
			if base := results[0].CPUPerRequest; base > 0 {
				results[i+1].CPURatio = float64(results[i+1].CPUPerRequest) / float64(base)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": results})
	}
	return printBench(os.Stdout, results)
}

// benchModel starts one model, warms it up, loads it and stops it.
func benchModel(ctx context.Context, cfg models.Config, bl benchLoad) (res benchResult) {
	res = benchResult{Model: string(cfg.Model)}
	sup, err := models.Start(ctx, cfg)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer sup.Close()
	load := bl.at(sup.URL())
	phases := newPhaseCollector(bl.names, bl.paths)
	if !cfg.NoPhases {
		for i := range load.Groups {
			h := load.Groups[i].Header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set(models.PhasesHeader, "1")
			load.Groups[i].Header = h
		}
		load.OnResult = phases.onResult
	}
	defer func() {
		var groups []*serverSummary
		res.Server, groups = phases.summary(cfg.Model)
		res.Groups = groupsOf(bl, res.Summary, groups)
	}()
	var mem memory
	res.Summary, mem, res.CPUPerRequest, err = drive(ctx, load, benchTarget{
		memory: func() memory { return memoryOf(sup.PIDs()) },
		cpu:    sup.CPU,
		port:   sup.Addr().Port,
	})
	res.setMemory(mem)
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// groupsOf is each group's part of a result (nil for a load not reported
// by group); it moves the groups' summaries out of the whole's.
func groupsOf(bl benchLoad, sum *loadgen.Summary, server []*serverSummary) []benchGroup {
	if sum == nil || !bl.grouped() {
		if sum != nil {
			sum.Groups = nil
		}
		return nil
	}
	out := make([]benchGroup, len(sum.Groups))
	for i, g := range sum.Groups {
		out[i] = benchGroup{Name: g.Name, Summary: g.Summary}
		if i < len(server) {
			out[i].Server = server[i]
		}
	}
	sum.Groups = nil
	return out
}

// benchTarget is what drive reads of the server under load.
type benchTarget struct {
	memory func() memory        // its processes and their memory
	cpu    func() time.Duration // CPU time its processes have used so far
	port   int                  // its listening port, on loopback
}

// memory is the server's processes and their memory, summed, sampled
// during the load (pssBeforeKB: before it) with the connections they
// held open then.
type memory struct{ processes, rssKB, pssKB, pssBeforeKB, held int }

// setMemory fills the result's memory from drive's sample.
func (r *benchResult) setMemory(m memory) {
	r.Workers, r.RSSKB, r.PSSKB = m.processes, m.rssKB, m.pssKB
	r.PSSBeforeKB, r.ConnsHeld = m.pssBeforeKB, m.held
	r.PerConnKB = stream.PerConnKB(m.pssBeforeKB, m.pssKB, m.held)
}

func memoryOf(pids []int) memory {
	m := memory{processes: len(pids)}
	for _, pid := range pids {
		m.rssKB += models.ProcessRSS(pid)
		m.pssKB += models.ProcessPSS(pid)
	}
	return m
}

// drive warms the server up, runs the load, samples the workers' memory
// and the connections they hold near its end and divides the server's
// CPU time over the load by the requests answered.
func drive(ctx context.Context, load loadgen.Load, srv benchTarget) (*loadgen.Summary, memory, time.Duration, error) {
	loadgen.RunLoad(ctx, warmUp(load))
	before := srv.memory().pssKB
	sample := func() memory {
		m := srv.memory()
		m.held, _ = models.HeldConns(srv.port)
		return m
	}
	// Sample memory at about 80% of a duration-bound run, else once the
	// run ends. The sampler reports on a channel of its own, so the end of
	// the load can never race its send.
	var mem memory
	sampled := make(chan memory, 1)
	loadDone := make(chan struct{})
	if d := loadDuration(load); d > 0 {
		go func() {
			select {
			case <-time.After(d * 8 / 10):
				sampled <- sample()
			case <-loadDone:
				close(sampled)
			}
		}()
	} else {
		close(sampled)
	}
	cpu0 := srv.cpu()
	sum, err := loadgen.RunLoad(ctx, load)
	cpu := srv.cpu() - cpu0
	close(loadDone)
	if v, ok := <-sampled; ok {
		mem = v
	} else {
		mem = sample()
	}
	mem.pssBeforeKB = before
	var perRequest time.Duration
	if sum != nil && sum.Succeeded > 0 {
		perRequest = cpu / time.Duration(sum.Succeeded)
	}
	return sum, mem, perRequest, err
}

// warmUp is a short closed-loop load of each group's request, to bring the
// server's caches in before the measured load.
func warmUp(load loadgen.Load) loadgen.Load {
	warm := loadgen.Load{Groups: slices.Clone(load.Groups), Requests: 50}
	for i := range warm.Groups {
		g := &warm.Groups[i].Config
		g.Requests, g.Duration, g.Rate, g.Think = min(50, max(g.Concurrency, 10)), 0, 0, 0
		if g.Concurrency == 0 {
			g.Concurrency = 10
		}
	}
	return warm
}

// loadDuration is how long a load bound by time runs, or 0 if requests
// may end it first.
func loadDuration(load loadgen.Load) time.Duration {
	if load.Duration > 0 {
		return load.Duration
	}
	if load.Requests > 0 {
		return 0
	}
	var d time.Duration
	for _, g := range load.Groups {
		if g.Requests > 0 || g.Duration == 0 {
			return 0
		}
		d = max(d, g.Duration)
	}
	return d
}

// benchNative builds the handler for this machine and measures Go's own
// net/http serving it: the baseline.
func benchNative(ctx context.Context, path string, bl benchLoad, m *modelFlags) benchResult {
	res := benchResult{Model: "native"}
	fmt.Fprintf(os.Stderr, "bench: native: building the baseline...\n")
	art, err := buildHandler(ctx, path, runtime.TargetNative, runtime.DefaultBuildTimeout, os.Stderr)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ln, err := freePort()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	cmd := exec.CommandContext(ctx, art.Path)
	cmd.Env = append(os.Environ(), "MPMLAB_ADDR="+ln)
	// The handler's files and environment, as the models give them.
	cmd.Env = append(cmd.Env, m.env...)
	if len(m.files) > 0 {
		dir, err := os.MkdirTemp("", "mpmlab-native-")
		if err != nil {
			res.Error = err.Error()
			return res
		}
		defer os.RemoveAll(dir)
		for _, f := range m.files {
			if err := os.WriteFile(filepath.Join(dir, f.Name), []byte(f.Data), 0o444); err != nil {
				res.Error = err.Error()
				return res
			}
		}
		cmd.Dir = dir
	}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		res.Error = err.Error()
		return res
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.Contains(line, "listening") {
		res.Error = fmt.Sprintf("native baseline did not start: %v %q", err, line)
		return res
	}
	go io.Copy(io.Discard, out)
	load := bl.at("http://" + ln)
	pid := cmd.Process.Pid
	_, portText, _ := net.SplitHostPort(ln)
	port, _ := strconv.Atoi(portText)
	var mem memory
	res.Summary, mem, res.CPUPerRequest, err = drive(ctx, load, benchTarget{
		memory: func() memory { return memoryOf([]int{pid}) },
		cpu:    func() time.Duration { return models.ProcessCPU(pid) },
		port:   port,
	})
	res.setMemory(mem)
	res.Groups = groupsOf(bl, res.Summary, nil)
	switch {
	case err != nil:
		res.Error = err.Error()
	case res.Summary != nil && res.Summary.Requests > 0 && res.Summary.Succeeded == 0:
		// Ratios against a baseline that answered nothing mean nothing.
		res.Error = fmt.Sprintf("the native baseline answered none of %d requests (%v)", res.Summary.Requests, res.Summary.ErrorKinds)
	}
	return res
}

func freePort() (string, error) {
	l, err := listenLoopback()
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// memoryText is the result's line on memory: its PSS before the load and
// while it held connections, and the memory per connection.
func (r benchResult) memoryText() string {
	line := fmt.Sprintf("Memory: PSS %.1f MiB before the load, %.1f MiB holding %d connections: ", float64(r.PSSBeforeKB)/1024, float64(r.PSSKB)/1024, r.ConnsHeld)
	if r.PerConnKB < 0 {
		return line + fmt.Sprintf("per connection n/a (fewer than %d held)", stream.MinConnsPerConn)
	}
	return line + fmt.Sprintf("%.1f KiB per connection", r.PerConnKB)
}

func printBench(w io.Writer, results []benchResult) error {
	var names []string
	var sums []*loadgen.Summary
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n\n", r.Model, r.Error)
			continue
		}
		title := fmt.Sprintf("%s (%d worker processes, %d MiB RSS", r.Model, r.Workers, r.RSSKB>>10)
		if r.Workers > 1 {
			title += fmt.Sprintf(", %d MiB each, %d MiB PSS each", r.RSSKB/r.Workers>>10, r.PSSKB/r.Workers>>10)
		}
		title += ")"
		if err := loadgen.WriteText(w, r.Summary, title); err != nil {
			return err
		}
		fmt.Fprintln(w, r.memoryText())
		if r.CPUPerRequest > 0 {
			line := fmt.Sprintf("Server CPU: %s per request (user and system, all its processes)", loadgen.FormatDuration(r.CPUPerRequest))
			if r.CPURatio > 0 {
				line += fmt.Sprintf(", %.2f× native", r.CPURatio)
			}
			fmt.Fprintln(w, line)
		}
		if line := r.Server.text(); line != "" {
			fmt.Fprintf(w, "Server side (measured in the workers):\n  %s\n", line)
		}
		for _, g := range r.Groups {
			fmt.Fprintf(w, "Group %s: %s\n", g.Name, g.text())
		}
		fmt.Fprintln(w)
		name := r.Model
		if r.Ratio > 0 {
			name = fmt.Sprintf("%s (%.2f× native)", r.Model, r.Ratio)
		}
		names = append(names, name)
		sums = append(sums, r.Summary)
	}
	if len(sums) > 1 {
		if err := loadgen.WriteTable(w, names, sums); err != nil {
			return err
		}
		if err := writeServerTable(w, results); err != nil {
			return err
		}
		if err := writeMemoryTable(w, results); err != nil {
			return err
		}
		return writeGroupTable(w, results)
	}
	if len(sums) == 1 && len(results[len(results)-1].Groups) > 0 {
		return writeGroupTable(w, results)
	}
	if len(sums) == 0 {
		return errors.New("no model could be measured")
	}
	return nil
}

// text is the server-side line of a model's summary.
func (s *serverSummary) text() string {
	if s == nil {
		return ""
	}
	f := loadgen.FormatDuration
	t := fmt.Sprintf("wait p50 %s p99 %s, service p50 %s p99 %s", f(s.Wait.P50), f(s.Wait.P99), f(s.Service.P50), f(s.Service.P99))
	if h := s.LongestHold; h != nil && h.NS > 0 {
		by := h.Path
		if h.Group != "" && h.Group != h.Path {
			by = h.Group + " (" + h.Path + ")"
		}
		t += fmt.Sprintf("; the loop was held %s by %s", f(h.NS), by)
		if h.Where != "" {
			t += " at " + h.Where
		}
	}
	return t
}

// writeServerTable prints the server-side phases beside the client's
// latency: where a request's time went inside the server.
// writeMemoryTable writes each model's memory side by side: its PSS
// before the load and while it held connections, the connections it held
// and the memory per connection (n/a below stream.MinConnsPerConn).
func writeMemoryTable(w io.Writer, results []benchResult) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nname\tPSS before\tPSS\tconns held\tper conn")
	for _, r := range results {
		if r.Error != "" || r.Summary == nil {
			continue
		}
		per := "n/a"
		if r.PerConnKB >= 0 {
			per = fmt.Sprintf("%.1f KiB", r.PerConnKB)
		}
		fmt.Fprintf(tw, "%s\t%.1f MiB\t%.1f MiB\t%d\t%s\n", r.Model, float64(r.PSSBeforeKB)/1024, float64(r.PSSKB)/1024, r.ConnsHeld, per)
	}
	return tw.Flush()
}

func writeServerTable(w io.Writer, results []benchResult) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nname\tCPU/request\tclient p50\tserver wait p50\tservice p50\tclient p99\twait p99\tservice p99\tlongest hold")
	f := loadgen.FormatDuration
	for _, r := range results {
		if r.Error != "" || r.Summary == nil {
			continue
		}
		cpu := "-"
		if r.CPUPerRequest > 0 {
			cpu = f(r.CPUPerRequest)
			if r.CPURatio > 0 {
				cpu += fmt.Sprintf(" (%.1f×)", r.CPURatio)
			}
		}
		if r.Server == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t%s\t-\t-\t-\n", r.Model, cpu, f(r.Summary.Latency.P50), f(r.Summary.Latency.P99))
			continue
		}
		held := "-"
		if h := r.Server.LongestHold; h != nil {
			held = f(h.NS)
			if h.Where != "" {
				held += " at " + h.Where
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Model, cpu,
			f(r.Summary.Latency.P50), f(r.Server.Wait.P50), f(r.Server.Service.P50),
			f(r.Summary.Latency.P99), f(r.Server.Wait.P99), f(r.Server.Service.P99), held)
	}
	return tw.Flush()
}

// text is a group's line under its model's summary.
func (g benchGroup) text() string {
	s := g.Summary
	if s == nil {
		return "not measured"
	}
	f := loadgen.FormatDuration
	t := fmt.Sprintf("%d requests (%d errors), %.1f req/s, p50 %s p99 %s", s.Requests, s.Errors, s.RPS, f(s.Latency.P50), f(s.Latency.P99))
	if line := g.Server.text(); line != "" {
		t += "; server " + line
	}
	return t
}

// writeGroupTable prints each group under each model: how one kind of
// request fared beside the others.
func writeGroupTable(w io.Writer, results []benchResult) error {
	if !slices.ContainsFunc(results, func(r benchResult) bool { return len(r.Groups) > 0 }) {
		return nil // a load without groups: no table, not an empty one
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nname\tgroup\trequests\treq/s\tp50\tp99\tserver wait p99\tservice p99\tfailed")
	f := loadgen.FormatDuration
	for _, r := range results {
		for _, g := range r.Groups {
			s := g.Summary
			if s == nil {
				continue
			}
			wait, service := "-", "-"
			if g.Server != nil {
				wait, service = f(g.Server.Wait.P99), f(g.Server.Service.P99)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\n", r.Model, g.Name, s.Requests, s.RPS,
				f(s.Latency.P50), f(s.Latency.P99), wait, service, s.Requests-s.Succeeded)
		}
	}
	return tw.Flush()
}
