package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/runtime"
)

// modelFlags registers the model and its knobs, with Apache's and nginx's
// names, on fs.
type modelFlags struct {
	model string
	cfg   models.Config
	mem   int
}

func addModelFlags(fs *flag.FlagSet, allowAll bool) *modelFlags {
	m := &modelFlags{}
	names := make([]string, len(models.Models))
	for i, m := range models.Models {
		names[i] = string(m)
	}
	list := strings.Join(names, ", ")
	if allowAll {
		list += ", or all"
	}
	fs.StringVar(&m.model, "model", "reactor", "concurrency model: "+list)
	fs.StringVar(&m.cfg.Addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.DurationVar(&m.cfg.Timeout, "timeout", defaultTimeout, "cut off a request after this long by killing its worker")
	fs.IntVar(&m.cfg.Backlog, "backlog", defaultBacklog, "kernel listen backlog (ListenBacklog); beyond it the kernel drops connections")
	fs.BoolVar(&m.cfg.KeepAlive, "keepalive", true, "allow keep-alive connections (KeepAlive)")
	fs.DurationVar(&m.cfg.KeepAliveTimeout, "keepalive-timeout", defaultKeepAliveTimeout, "close an idle keep-alive connection after this long (KeepAliveTimeout)")
	fs.IntVar(&m.cfg.MaxKeepAliveRequests, "max-keepalive-requests", defaultMaxKeepAlive, "requests per keep-alive connection, 0 = unlimited (MaxKeepAliveRequests)")
	fs.IntVar(&m.cfg.MaxConnectionsPerChild, "max-connections-per-child", 0, "retire a worker process after this many connections, 0 = never (MaxConnectionsPerChild)")
	fs.IntVar(&m.cfg.StartServers, "start-servers", defaultStartServers, "process: worker processes at start (StartServers)")
	fs.IntVar(&m.cfg.MinSpare, "min-spare", defaultMinSpare, "process: spawn processes while fewer are idle (MinSpareServers)")
	fs.IntVar(&m.cfg.MaxSpare, "max-spare", defaultMaxSpare, "process: retire processes while more are idle (MaxSpareServers)")
	fs.IntVar(&m.cfg.MaxRequestWorkers, "max-request-workers", defaultMaxRequestWorkers, "process: most processes at once (MaxRequestWorkers)")
	fs.IntVar(&m.cfg.Processes, "processes", defaultProcesses, "thread, event: worker processes")
	fs.IntVar(&m.cfg.ThreadsPerChild, "threads-per-child", defaultThreadsPerChild, "thread, event: threads in each process (ThreadsPerChild)")
	fs.IntVar(&m.cfg.AsyncRequestWorkerFactor, "async-request-worker-factor", models.DefaultAsyncFactor,
		"event: a process accepts while it has fewer than threads-per-child + this × its idle threads connections (AsyncRequestWorkerFactor)")
	fs.IntVar(&m.cfg.Loops, "loops", defaultLoops, "reactor: event loops, each its own process (nginx worker_processes)")
	fs.IntVar(&m.cfg.Connections, "connections", defaultConnections, "reactor: open connections per loop; past it new ones are closed (nginx worker_connections)")
	fs.IntVar(&m.mem, "memory-limit", runtime.DefaultMemoryLimit>>20, "memory limit of each guest instance, in MiB")
	return m
}

// Defaults of the CLI: the fixed forms of the engine (4 processes; 1×4
// threads; one loop).
const (
	defaultTimeout           = 10 * time.Second
	defaultBacklog           = models.DefaultBacklog
	defaultKeepAliveTimeout  = models.DefaultKeepAliveTimeout
	defaultMaxKeepAlive      = models.DefaultMaxKeepAlive
	defaultStartServers      = models.DefaultStartServers
	defaultMinSpare          = models.DefaultMinSpare
	defaultMaxSpare          = models.DefaultMaxSpare
	defaultMaxRequestWorkers = models.DefaultMaxRequestWorkers
	defaultProcesses         = models.DefaultProcesses
	defaultThreadsPerChild   = models.DefaultThreadsPerChild
	defaultLoops             = models.DefaultLoops
	defaultConnections       = models.DefaultConnections
)

// config returns the models.Config for one model, validated.
func (m *modelFlags) config(model models.Model, wasm string) (models.Config, error) {
	cfg := m.cfg
	cfg.Model = model
	cfg.Wasm = wasm
	cfg.MemoryLimit = m.mem << 20
	if m.mem < 16 || m.mem > 4096 {
		return cfg, usagef("memory-limit %d out of range 16..4096 (MiB)", m.mem)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func runCmd(args []string) error {
	fs := newFlags("run", "[--model process|thread|reactor|event] [--addr HOST:PORT] [knobs] PATH", `
Build a handler and serve it under one concurrency model on a real port until
interrupted (Ctrl-C). Worker processes accept connections from one shared
socket, as Apache's children and nginx's workers do.

  process  Apache prefork: worker processes with one instance each, one connection each
  thread   Apache worker: processes with threads, an instance and a connection per thread
  reactor  nginx / node: one event loop per process, every connection in one instance
  event    Apache event: worker's processes and threads, plus a listener per process
           that holds idle keep-alive connections; a thread serves a request, not a
           connection

Every response carries X-Mpmlab-Worker naming the worker that served it.`)
	m := addModelFlags(fs, false)
	status := fs.String("status-addr", "", "serve a mod_status-style scoreboard at http://ADDR/server-status (e.g. 127.0.0.1:0)")
	quiet := fs.Bool("quiet", false, "do not print the guest's output and worker lifecycle")
	trace := fs.String("trace", "", "write every trace event (models.Event, schema v2) as a JSON line to `FILE` (- for stdout)")
	pos, err := parse(fs, args, 1, "PATH: a .go file, a directory, a .txtar file or an example name")
	if err != nil {
		return err
	}
	model, err := models.ParseModel(m.model)
	if err != nil {
		return usageError{err}
	}
	if _, err := m.config(model, "x.wasm"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	art, err := buildHandler(ctx, pos[0], runtime.TargetWASI, runtime.DefaultBuildTimeout, os.Stderr)
	if err != nil {
		return err
	}
	cfg, _ := m.config(model, art.Path)
	cfg.Logf = logf
	if *quiet {
		cfg.Logf = nil
	}
	cfg.Trace = *status != "" || *trace != ""
	if *trace != "" {
		w := os.Stdout
		if *trace != "-" {
			f, err := os.Create(*trace)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		tw := newTraceWriter(w)
		defer tw.close()
		cfg.OnEvent = tw.send
	}
	sup, err := models.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer sup.Close()
	if *status != "" {
		addr, err := serveStatus(sup, *status)
		if err != nil {
			return err
		}
		fmt.Printf("scoreboard on http://%s/server-status\n", addr)
	}
	fmt.Printf("listening on %s\n", sup.URL())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping workers...")
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// traceWriter writes trace events as JSON lines from a goroutine of its own,
// so that a slow file or pipe never stalls the supervisor, which calls
// OnEvent with its lock held. Past maxQueuedTrace events waiting, events are
// dropped and counted.
type traceWriter struct {
	ch      chan models.Event
	done    chan struct{}
	dropped atomic.Int64
}

// maxQueuedTrace bounds the events waiting to be written.
const maxQueuedTrace = 1 << 16

func newTraceWriter(w io.Writer) *traceWriter {
	tw := &traceWriter{ch: make(chan models.Event, maxQueuedTrace), done: make(chan struct{})}
	go func() {
		defer close(tw.done)
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		for e := range tw.ch {
			enc.Encode(e)
			if len(tw.ch) == 0 {
				bw.Flush() // nothing else waiting: let a reader see it now
			}
		}
		bw.Flush()
	}()
	return tw
}

func (tw *traceWriter) send(e models.Event) {
	select {
	case tw.ch <- e:
	default:
		tw.dropped.Add(1)
	}
}

// close writes what is queued and says how many events were dropped.
func (tw *traceWriter) close() {
	close(tw.ch)
	<-tw.done
	if n := tw.dropped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "mpmlab run: --trace dropped %d events: its file could not keep up\n", n)
	}
}
