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
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Model names a concurrency model; each has a Policy (policy.go) in a file
// of its own: Process, Thread, Reactor, EventMPM.
type Model string

// Models lists every model in the order mpmlab compares them:
// experiment.ModelTable's (filled with Policies).
var Models []Model

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
	// Files are the experiment's files (its .go and data files), which
	// every guest instance finds at its root, read-only (runtime.Files);
	// Env its environment ("NAME=value", experiment.ValidateEnv's rules).
	Files []experiment.File
	Env   []string
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
	// KeepCompileMemory leaves the memory of Start's compile, if it
	// compiled the guest, to the caller (see Precompile): the playground
	// compiles again after the next edit and reuses it. Otherwise Start
	// hands it back once its pool is up.
	KeepCompileMemory bool
	// Executable is the mpmlab binary started as "mpmlab worker"
	// (default: os.Executable()).
	Executable string
	// Standby, if set, holds workers started ahead that loaded the module:
	// Start adopts them for its first workers instead of spawning them.
	// May be nil.
	Standby *Standby
	// OnEvent receives every event, from one goroutine at a time and
	// sometimes while the supervisor holds its lock: it must be quick and
	// must not call the Supervisor (a slow OnEvent stalls spawning and
	// reaping; queue the events and write them elsewhere, as run --trace
	// does). May be nil.
	OnEvent func(stream.Event)
	// Logf prints the supervisor's log lines (spawns, exits, kills, guest
	// output). May be nil.
	Logf func(format string, args ...any)
}

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

// Knobs returns c's knobs as an experiment's, the inverse of FromKnobs:
// the engine's 0 of MinSpare and MaxConnectionsPerChild ("none",
// "never") becomes the knobs' -1; elsewhere 0 stays 0, which the knobs
// read as their default. A duration under a millisecond counts as one,
// and a memory limit is rounded up to MiB, so that a set knob stays set.
func (c *Config) Knobs() experiment.Knobs {
	none := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	ms := func(d time.Duration) int { return int((d + time.Millisecond - 1) / time.Millisecond) }
	return experiment.Knobs{
		StartServers:             c.StartServers,
		MinSpare:                 none(c.MinSpare),
		MaxSpare:                 c.MaxSpare,
		MaxRequestWorkers:        c.MaxRequestWorkers,
		Processes:                c.Processes,
		ThreadsPerChild:          c.ThreadsPerChild,
		AsyncRequestWorkerFactor: c.AsyncRequestWorkerFactor,
		Loops:                    c.Loops,
		Connections:              c.Connections,
		Backlog:                  c.Backlog,
		KeepAlive:                experiment.Bool(c.KeepAlive),
		KeepAliveTimeoutMS:       ms(c.KeepAliveTimeout),
		MaxKeepAliveRequests:     experiment.Int(c.MaxKeepAliveRequests),
		MaxConnectionsPerChild:   none(c.MaxConnectionsPerChild),
		TimeoutMS:                ms(c.Timeout),
		LimitRequestBody:         c.LimitRequestBody,
		MemoryLimitMB:            (c.MemoryLimit + 1<<20 - 1) >> 20,
		ThreadPoolThreads:        c.ThreadPoolThreads,
		ThreadPoolMaxQueue:       c.ThreadPoolMaxQueue,
	}
}

// WithDefaults returns c with every zero knob set to its default, except
// those for which zero means something: MinSpare (keep no spare
// processes), MaxConnectionsPerChild and MaxKeepAliveRequests (no limit).
// The defaults, derived ones included (MaxRequestWorkers from
// StartServers, ...), are experiment.KnobTable's: c goes through the
// knobs and back (Knobs, FromKnobs), keeping exactly what was set.
func (c Config) WithDefaults() Config {
	d := FromKnobs(c.Model, c.Knobs())
	// The knobs count milliseconds and MiB: keep a finer value as set.
	if c.KeepAliveTimeout != 0 {
		d.KeepAliveTimeout = c.KeepAliveTimeout
	}
	if c.Timeout != 0 {
		d.Timeout = c.Timeout
	}
	if c.MemoryLimit != 0 {
		d.MemoryLimit = c.MemoryLimit
	}
	// What is not a knob.
	d.Wasm, d.Addr, d.CacheDir, d.Executable = c.Wasm, c.Addr, c.CacheDir, c.Executable
	d.Files, d.Env = c.Files, c.Env
	d.Trace, d.NoPhases, d.ServeWhileCompiling, d.KeepCompileMemory = c.Trace, c.NoPhases, c.ServeWhileCompiling, c.KeepCompileMemory
	d.OnEvent, d.Logf, d.Standby = c.OnEvent, c.Logf, c.Standby
	if d.Addr == "" {
		d.Addr = "127.0.0.1:8080"
	}
	return d
}

// Validate checks the model and every knob against experiment.KnobTable's
// engine range (the CLI's, Knobs.ValidateFlags); the error names the knob
// by its flag and says its range: "threads-per-child 99 out of range
// 1..64". Zero is not a default here: call WithDefaults first.
func (c Config) Validate() error {
	if _, err := ParseModel(string(c.Model)); err != nil {
		return err
	}
	if err := c.Knobs().ValidateFlags(); err != nil {
		return err
	}
	if _, err := experiment.ParseEnv(c.Env); err != nil {
		return fmt.Errorf("env: %w", err)
	}
	return nil
}
