// Package models runs a handler under one of four concurrency models, each
// a faithful small copy of a real server and each a Policy in a file of its
// own:
//
//   - Process (process.go): Apache's prefork MPM. Worker processes with one
//     guest instance each, one connection per process at a time.
//   - Thread (thread.go): Apache's worker MPM. Worker processes with
//     ThreadsPerChild threads, an instance per thread, one connection per
//     thread.
//   - Reactor (reactor.go): nginx and node. One loop per worker process, a
//     single instance serving every connection of its loop.
//   - EventMPM (event.go): Apache's event MPM. The worker MPM's threads plus
//     a listener per process that holds idle keep-alive connections, so a
//     thread serves a request, not a connection.
//
// A Supervisor owns the listening socket and the worker processes ("mpmlab
// worker", see worker.go): it spawns them, replaces those that die, kills
// those that run away, and reports everything as Events.
package models

import (
	"fmt"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Model names a concurrency model; each has a Policy (policy.go) in a file
// of its own: Process, Thread, Reactor, EventMPM.
type Model string

// Models lists every model in the order mpmlab compares them.
var Models = func() []Model {
	var ms []Model
	for _, p := range Policies {
		ms = append(ms, p.Model())
	}
	return ms
}()

// ParseModel checks a model name.
func ParseModel(s string) (Model, error) {
	p, err := PolicyOf(Model(s))
	if err != nil {
		return "", err
	}
	return p.Model(), nil
}

// Config describes one server: the handler, the model and its knobs. The
// knob names are Apache's and nginx's; zero values take the defaults noted,
// which are Apache's scaled to a laptop.
type Config struct {
	Model Model
	// Wasm is the path of the handler built for wasip1.
	Wasm string
	// Addr is the listening address; port 0 picks a free port.
	Addr string
	// Backlog is the kernel listen backlog (ListenBacklog): connections no
	// worker has accepted wait here; beyond it the kernel drops them.
	Backlog int

	// Prefork (process): StartServers, MinSpareServers (zero is kept: no
	// spares), MaxSpareServers, MaxRequestWorkers (the most processes).
	StartServers      int
	MinSpare          int
	MaxSpare          int
	MaxRequestWorkers int

	// Worker (thread) and event: processes (StartServers = ServerLimit
	// here) and ThreadsPerChild; event also AsyncRequestWorkerFactor.
	Processes                int
	ThreadsPerChild          int
	AsyncRequestWorkerFactor int

	// Reactor: Loops (nginx worker_processes) and Connections per loop
	// (worker_connections).
	Loops       int
	Connections int

	// MaxConnectionsPerChild retires a worker process after it has taken
	// this many connections (0: never).
	MaxConnectionsPerChild int
	// KeepAlive, KeepAliveTimeout and MaxKeepAliveRequests as in Apache
	// core (MaxKeepAliveRequests 0: unlimited).
	KeepAlive            bool
	KeepAliveTimeout     time.Duration
	MaxKeepAliveRequests int

	// Timeout cuts off a request that runs longer by killing its worker.
	Timeout time.Duration
	// LimitRequestBody is the most bytes of a request body (Apache
	// LimitRequestBody): a body whose Content-Length is over it gets 413
	// and never reaches the guest; a chunked body over it fails the
	// handler's read past the limit.
	LimitRequestBody int
	// MemoryLimit caps each guest instance's memory, in bytes.
	MemoryLimit int
	// ThreadPoolThreads and ThreadPoolMaxQueue size each worker process's
	// thread pool, where guest.Pool's work runs (nginx thread_pool
	// threads= and max_queue=), under every model.
	ThreadPoolThreads  int
	ThreadPoolMaxQueue int
	// CacheDir is mpmlab's cache (runtime.DefaultCacheDir by default).
	CacheDir string
	// Trace asks workers for per-request and state events (the playground's
	// live view needs them; a benchmark need not pay), and the reactor for
	// its loop's lag and state. The supervisor's own view of the lanes
	// (spare servers, Workers, /server-status) is the shared scoreboard,
	// with or without it.
	Trace bool
	// NoPhases turns off the per-request bookkeeping of the server-side
	// phases (runtime.InstanceConfig.NoPhases): only to measure its cost.
	NoPhases bool
	// ServeWhileCompiling lets a guest that is not in the compilation
	// cache answer at once: the first workers run it on wazero's
	// interpreter while the supervisor compiles it to machine code, then
	// each is replaced gracefully by a worker on the machine code
	// (Supervisor.Compiled says when; see switchToCompiled). For `mpmlab
	// run`; never for a measurement, which would mix two engines: with it
	// off, Start returns only once the machine code is ready.
	ServeWhileCompiling bool
	// Executable is the mpmlab binary started as "mpmlab worker"
	// (default: os.Executable()).
	Executable string
	// OnEvent receives every event, from one goroutine at a time and
	// sometimes while the supervisor holds its lock: it must be quick and
	// must not call the Supervisor (a slow OnEvent stalls spawning and
	// reaping; queue the events and write them elsewhere, as run --trace
	// does). May be nil.
	OnEvent func(Event)
	// Logf prints the supervisor's log lines (spawns, exits, kills, guest
	// output). May be nil.
	Logf func(format string, args ...any)
}

// Limits of the knobs: experiment.KnobTable's, which the CLI and the
// playground validate against.
const (
	MaxProcesses       = experiment.MaxProcesses
	MaxThreadsPerChild = experiment.MaxThreadsPerChild
	MaxAsyncFactor     = experiment.MaxAsyncFactor
	MaxLoops           = experiment.MaxLoops
	MaxConnections     = experiment.MaxConnections
	MaxBacklog         = experiment.MaxBacklog
	MaxTimeout         = experiment.MaxTimeoutMS * time.Millisecond
)

// Defaults of zero fields: experiment.KnobTable's.
const (
	DefaultStartServers      = experiment.DefaultStartServers
	DefaultMinSpare          = experiment.DefaultMinSpare
	DefaultMaxSpare          = experiment.DefaultMaxSpare
	DefaultMaxRequestWorkers = experiment.DefaultMaxRequestWorkers
	DefaultProcesses         = experiment.DefaultProcesses
	DefaultThreadsPerChild   = experiment.DefaultThreadsPerChild
	DefaultAsyncFactor       = experiment.DefaultAsyncFactor
	DefaultLoops             = experiment.DefaultLoops
	DefaultConnections       = experiment.DefaultConnections
	DefaultBacklog           = experiment.DefaultBacklog
	DefaultKeepAliveTimeout  = experiment.DefaultKeepAliveMS * time.Millisecond
	DefaultMaxKeepAlive      = experiment.DefaultMaxKeepAlive
	DefaultTimeout           = experiment.DefaultTimeoutMS * time.Millisecond
)

// FromKnobs is the configuration of model m from an experiment's knobs:
// the one conversion the CLI and the playground share. The knobs' "none"
// and "never" (-1) become the engine's 0; max_keepalive_requests 0 is
// unlimited in both.
func FromKnobs(m Model, k experiment.Knobs) Config {
	k = k.Normalize()
	none := func(v int) int { return max(v, 0) }
	return Config{
		Model:                    m,
		Backlog:                  k.Backlog,
		StartServers:             k.StartServers,
		MinSpare:                 none(k.MinSpare),
		MaxSpare:                 k.MaxSpare,
		MaxRequestWorkers:        k.MaxRequestWorkers,
		Processes:                k.Processes,
		ThreadsPerChild:          k.ThreadsPerChild,
		AsyncRequestWorkerFactor: k.AsyncRequestWorkerFactor,
		Loops:                    k.Loops,
		Connections:              k.Connections,
		MaxConnectionsPerChild:   none(k.MaxConnectionsPerChild),
		KeepAlive:                experiment.On(k.KeepAlive),
		KeepAliveTimeout:         time.Duration(k.KeepAliveTimeoutMS) * time.Millisecond,
		MaxKeepAliveRequests:     *k.MaxKeepAliveRequests, // 0: unlimited, as in the engine
		Timeout:                  time.Duration(k.TimeoutMS) * time.Millisecond,
		LimitRequestBody:         k.LimitRequestBody,
		MemoryLimit:              k.MemoryLimitMB << 20,
		ThreadPoolThreads:        k.ThreadPoolThreads,
		ThreadPoolMaxQueue:       k.ThreadPoolMaxQueue,
	}
}

// WithDefaults returns c with every zero knob set to its default, except
// those for which zero means something: MinSpare (keep no spare
// processes), MaxConnectionsPerChild and MaxKeepAliveRequests (no limit).
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.StartServers, DefaultStartServers)
	def(&c.MaxRequestWorkers, max(DefaultMaxRequestWorkers, c.StartServers))
	def(&c.MaxSpare, max(DefaultMaxSpare, c.MinSpare+1))
	def(&c.Processes, DefaultProcesses)
	def(&c.ThreadsPerChild, DefaultThreadsPerChild)
	def(&c.AsyncRequestWorkerFactor, DefaultAsyncFactor)
	def(&c.Loops, DefaultLoops)
	def(&c.Connections, DefaultConnections)
	def(&c.Backlog, DefaultBacklog)
	def(&c.LimitRequestBody, experiment.DefaultLimitRequestBody)
	def(&c.ThreadPoolThreads, experiment.DefaultThreadPoolThreads)
	def(&c.ThreadPoolMaxQueue, experiment.DefaultThreadPoolMaxQueue)
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	return c
}

// Validate checks every knob against its range; the error names the knob
// and its range. Zero is not a default here: call WithDefaults first.
func (c Config) Validate() error {
	if _, err := ParseModel(string(c.Model)); err != nil {
		return err
	}
	check := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s %d out of range %d..%d", name, v, lo, hi)
		}
		return nil
	}
	checks := []error{
		check("backlog", c.Backlog, 1, MaxBacklog),
		check("start-servers", c.StartServers, 1, MaxProcesses),
		check("max-request-workers", c.MaxRequestWorkers, 1, MaxProcesses),
		check("min-spare", c.MinSpare, 0, MaxProcesses),
		check("max-spare", c.MaxSpare, 1, MaxProcesses),
		check("processes", c.Processes, 1, MaxProcesses),
		check("threads-per-child", c.ThreadsPerChild, 1, MaxThreadsPerChild),
		check("async-request-worker-factor", c.AsyncRequestWorkerFactor, 1, MaxAsyncFactor),
		check("loops", c.Loops, 1, MaxLoops),
		check("connections", c.Connections, 1, MaxConnections),
		check("max-connections-per-child", c.MaxConnectionsPerChild, 0, 1_000_000),
		check("max-keepalive-requests", c.MaxKeepAliveRequests, 0, 1_000_000),
		check("limit-request-body", c.LimitRequestBody, 1, experiment.MaxLimitRequestBody),
		check("thread-pool-threads", c.ThreadPoolThreads, 1, experiment.MaxThreadPoolThreads),
		check("thread-pool-max-queue", c.ThreadPoolMaxQueue, 1, experiment.MaxThreadPoolMaxQueue),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if c.StartServers > c.MaxRequestWorkers {
		return fmt.Errorf("start-servers %d exceeds max-request-workers %d", c.StartServers, c.MaxRequestWorkers)
	}
	if c.MinSpare >= c.MaxSpare {
		return fmt.Errorf("min-spare %d must be below max-spare %d", c.MinSpare, c.MaxSpare)
	}
	if c.Timeout < 0 || c.Timeout > MaxTimeout {
		return fmt.Errorf("timeout %v out of range 0..%v", c.Timeout, MaxTimeout)
	}
	if c.KeepAliveTimeout < 0 || c.KeepAliveTimeout > time.Minute {
		return fmt.Errorf("keepalive-timeout %v out of range 0..1m", c.KeepAliveTimeout)
	}
	return nil
}
