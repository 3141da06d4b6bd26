package experiment

import (
	"fmt"
	"strings"
)

// Unit says how a knob's value reads.
type Unit int

// Knob units.
const (
	Count  Unit = iota // a number of things
	Millis             // a duration in milliseconds (the CLI takes a Go duration: "5s")
	MiB                // a size in MiB
	Switch             // on or off (Knobs' *bool fields)
)

// Knob is the one definition of a model's directive. The CLI's flags, the
// API's validation and its error messages, the page's form and the
// conversion to the engine's configuration (models.FromKnobs) are derived
// from KnobTable; a knob is added by a row here and the code that uses it.
type Knob struct {
	Name      string   // JSON name under "knobs" ("threads_per_child")
	Flag      string   // the CLI's flag ("threads-per-child")
	Directive string   // Apache's or nginx's name ("ThreadsPerChild"), "" if mpmlab's own
	Models    []string // the models it applies to; nil: every model
	Unit      Unit
	// Min and Max are the engine's range (the CLI's). -1 as Min means the
	// knob takes -1 for "none" or "unlimited" (see Help); 0 always means
	// the default.
	Min, Max int
	// PageMax is the playground's stricter upper bound, if any: a page must
	// not exhaust the machine.
	PageMax int
	Default int // Switch: 1 on, 0 off
	Help    string

	// value returns the knob's field in a Knobs (Count, Millis, MiB).
	value func(*Knobs) *int
	// opt returns the knob's field in a Knobs when it is a *int: nil is
	// the default, so 0 can be a value of its own (Apache's "unlimited").
	opt func(*Knobs) **int
	// on returns the knob's field in a Knobs (Switch).
	on func(*Knobs) **bool
	// derive, if set, is the default computed from other knobs (already
	// normalized above it in the table).
	derive func(*Knobs) int
}

// KnobTable is every knob, in the form's order: each model's own first.
var KnobTable = []Knob{
	{Name: "start_servers", Flag: "start-servers", Directive: "StartServers", Models: []string{"process"},
		Min: 1, Max: MaxProcesses, Default: DefaultStartServers, Help: "worker processes at start",
		value: func(k *Knobs) *int { return &k.StartServers }},
	{Name: "max_request_workers", Flag: "max-request-workers", Directive: "MaxRequestWorkers", Models: []string{"process"},
		Min: 1, Max: MaxProcesses, Default: DefaultMaxRequestWorkers, Help: "the most processes at once; past them connections wait in the listen backlog",
		value: func(k *Knobs) *int { return &k.MaxRequestWorkers }, derive: func(k *Knobs) int { return max(DefaultMaxRequestWorkers, k.StartServers) }},
	{Name: "min_spare", Flag: "min-spare", Directive: "MinSpareServers", Models: []string{"process"},
		Min: -1, Max: MaxProcesses, Default: DefaultMinSpare, Help: "spawn processes while fewer are idle (-1: keep no spares)",
		value: func(k *Knobs) *int { return &k.MinSpare }, derive: func(k *Knobs) int { return min(DefaultMinSpare, k.MaxRequestWorkers) }},
	{Name: "max_spare", Flag: "max-spare", Directive: "MaxSpareServers", Models: []string{"process"},
		Min: 1, Max: MaxProcesses, Default: DefaultMaxSpare, Help: "retire processes while more are idle",
		value: func(k *Knobs) *int { return &k.MaxSpare }, derive: func(k *Knobs) int { return max(DefaultMaxSpare, k.MinSpare+1) }},
	{Name: "processes", Flag: "processes", Directive: "StartServers", Models: []string{"thread", "event"},
		Min: 1, Max: MaxProcesses, Default: DefaultProcesses, Help: "worker processes, each with threads_per_child threads",
		value: func(k *Knobs) *int { return &k.Processes }},
	{Name: "threads_per_child", Flag: "threads-per-child", Directive: "ThreadsPerChild", Models: []string{"thread", "event"},
		Min: 1, Max: MaxThreadsPerChild, Default: DefaultThreadsPerChild, Help: "threads in each process",
		value: func(k *Knobs) *int { return &k.ThreadsPerChild }},
	{Name: "async_request_worker_factor", Flag: "async-request-worker-factor", Directive: "AsyncRequestWorkerFactor", Models: []string{"event"},
		Min: 1, Max: MaxAsyncFactor, Default: DefaultAsyncFactor,
		Help:  "a process accepts while it holds fewer than threads_per_child + this × its idle threads connections; with no thread idle it stops accepting and closes its idle keep-alive connections",
		value: func(k *Knobs) *int { return &k.AsyncRequestWorkerFactor }},
	{Name: "loops", Flag: "loops", Directive: "worker_processes", Models: []string{"reactor"},
		Min: 1, Max: MaxLoops, Default: DefaultLoops, Help: "event loops, each its own process",
		value: func(k *Knobs) *int { return &k.Loops }},
	{Name: "connections", Flag: "connections", Directive: "worker_connections", Models: []string{"reactor"},
		Min: 1, Max: MaxConnections, Default: DefaultConnections, Help: "open connections per loop; past them a new one is closed at once",
		value: func(k *Knobs) *int { return &k.Connections }},
	{Name: "backlog", Flag: "backlog", Directive: "ListenBacklog",
		Min: 1, Max: MaxBacklog, Default: DefaultBacklog, Help: "the kernel's listen backlog: connections no worker has accepted wait here; past it the kernel drops them",
		value: func(k *Knobs) *int { return &k.Backlog }},
	{Name: "keepalive", Flag: "keepalive", Directive: "KeepAlive", Unit: Switch,
		Default: 1, Help: "let a connection carry more than one request",
		on: func(k *Knobs) **bool { return &k.KeepAlive }},
	{Name: "keepalive_timeout_ms", Flag: "keepalive-timeout", Directive: "KeepAliveTimeout", Unit: Millis,
		Min: 1, Max: MaxKeepAliveMS, Default: DefaultKeepAliveMS, Help: "close an idle keep-alive connection after this long",
		value: func(k *Knobs) *int { return &k.KeepAliveTimeoutMS }},
	{Name: "max_keepalive_requests", Flag: "max-keepalive-requests", Directive: "MaxKeepAliveRequests",
		Min: 0, Max: 1_000_000, Default: DefaultMaxKeepAlive, Help: "requests per keep-alive connection (0: unlimited, as in Apache)",
		opt: func(k *Knobs) **int { return &k.MaxKeepAliveRequests }},
	{Name: "max_connections_per_child", Flag: "max-connections-per-child", Directive: "MaxConnectionsPerChild",
		Min: -1, Max: 1_000_000, Default: -1, Help: "retire a worker process after this many connections (-1: never)",
		value: func(k *Knobs) *int { return &k.MaxConnectionsPerChild }},
	{Name: "timeout_ms", Flag: "timeout", Directive: "Timeout", Unit: Millis,
		Min: 1, Max: MaxTimeoutMS, Default: DefaultTimeoutMS, Help: "cut off a request after this long by killing its worker",
		value: func(k *Knobs) *int { return &k.TimeoutMS }},
	{Name: "limit_request_body", Flag: "limit-request-body", Directive: "LimitRequestBody",
		Min: 1, Max: MaxLimitRequestBody, Default: DefaultLimitRequestBody, Help: "the most bytes of a request body; a body declared longer is answered 413 before the handler runs, a chunked one fails the handler's read once past it (nginx: client_max_body_size)",
		value: func(k *Knobs) *int { return &k.LimitRequestBody }},
	{Name: "memory_limit_mb", Flag: "memory-limit", Unit: MiB,
		Min: MinMemoryMB, Max: MaxEngineMemoryMB, PageMax: MaxMemoryMB, Default: DefaultMemoryMB, Help: "memory limit of each guest instance",
		value: func(k *Knobs) *int { return &k.MemoryLimitMB }},
	{Name: "thread_pool_threads", Flag: "thread-pool-threads", Directive: "thread_pool threads",
		Min: 1, Max: MaxThreadPoolThreads, PageMax: PageMaxThreadPoolThreads, Default: DefaultThreadPoolThreads,
		Help:  "threads of each worker process's pool, where guest.Pool's CPU work and blocking calls run while the request waits (libuv: UV_THREADPOOL_SIZE)",
		value: func(k *Knobs) *int { return &k.ThreadPoolThreads }},
	{Name: "thread_pool_max_queue", Flag: "thread-pool-max-queue", Directive: "thread_pool max_queue",
		Min: 1, Max: MaxThreadPoolMaxQueue, Default: DefaultThreadPoolMaxQueue,
		Help:  "the most pool tasks waiting for a thread; past it guest.Pool fails at once with a queue overflow error",
		value: func(k *Knobs) *int { return &k.ThreadPoolMaxQueue }},
}

// MaxEngineMemoryMB caps Knobs.MemoryLimitMB on the CLI (the playground's
// cap is MaxMemoryMB).
const MaxEngineMemoryMB = 4096

// KnobNamed returns the knob with JSON name name, or nil.
func KnobNamed(name string) *Knob {
	for i := range KnobTable {
		if KnobTable[i].Name == name {
			return &KnobTable[i]
		}
	}
	return nil
}

// Int returns the knob's field in ks (nil for a Switch, and for an
// Optional knob not set in ks).
func (k *Knob) Int(ks *Knobs) *int {
	switch {
	case k.value != nil:
		return k.value(ks)
	case k.opt != nil:
		return *k.opt(ks)
	}
	return nil
}

// Optional reports whether the knob is a *int, whose nil is its default
// (so that 0 can be a value: max_keepalive_requests 0 is unlimited).
func (k *Knob) Optional() bool { return k.opt != nil }

// Opt returns an Optional knob's field in ks (nil otherwise).
func (k *Knob) Opt(ks *Knobs) **int {
	if k.opt == nil {
		return nil
	}
	return k.opt(ks)
}

// On returns the knob's field in ks (nil unless a Switch).
func (k *Knob) On(ks *Knobs) **bool {
	if k.on == nil {
		return nil
	}
	return k.on(ks)
}

// Derived reports whether the knob's default is computed from others
// (MaxRequestWorkers from StartServers, ...).
func (k *Knob) Derived() bool { return k.derive != nil }

// Limit is the upper bound of the knob on the page (PageMax if set).
func (k *Knob) Limit() int {
	if k.PageMax > 0 {
		return k.PageMax
	}
	return k.Max
}

// Title is the help a form field shows: the directive and what it does.
func (k *Knob) Title() string {
	h := k.Help
	switch k.Unit {
	case Millis:
		h += " (ms)"
	case MiB:
		h += " (MiB)"
	}
	if k.Directive != "" {
		h = k.Directive + ": " + h
	}
	return h
}

// Label is the knob's name on the page's form: the directive a reader of
// the Apache or nginx docs knows ("MaxRequestWorkers", "worker_connections"),
// or, for mpmlab's own knobs, its name in words; with its unit.
func (k *Knob) Label() string {
	l := k.Directive
	if l == "" {
		l = strings.ReplaceAll(strings.TrimSuffix(strings.TrimSuffix(k.Name, "_ms"), "_mb"), "_", " ")
	}
	switch k.Unit {
	case Millis:
		l += " (ms)"
	case MiB:
		l += " (MiB)"
	}
	return l
}

// FlagHelp is the knob's line in the CLI's --help.
func (k *Knob) FlagHelp() string {
	h := k.Help
	if k.Models != nil {
		h = strings.Join(k.Models, ", ") + ": " + h
	}
	if k.Directive != "" {
		h += " (" + k.Directive + ")"
	}
	return h
}

// normalize sets every zero knob of ks to its default, in table order.
func (ks *Knobs) normalize() {
	for i := range KnobTable {
		k := &KnobTable[i]
		if p := k.On(ks); p != nil {
			v := k.Default == 1
			if *p != nil {
				v = **p
			}
			*p = Bool(v)
			continue
		}
		if p := k.Opt(ks); p != nil {
			switch {
			case *p == nil:
				*p = Int(k.Default)
			case **p == -1:
				*p = Int(0) // how "unlimited" was once spelt
			}
			continue
		}
		if p := k.Int(ks); *p == 0 {
			*p = k.Default
			if k.derive != nil {
				*p = k.derive(ks)
			}
		}
	}
}

// validate checks every knob of a normalized ks against its range, the
// page's (page) or the engine's, naming it with name(k).
func (ks *Knobs) validate(page bool, name func(*Knob) string) error {
	for i := range KnobTable {
		k := &KnobTable[i]
		p := k.Int(ks)
		if p == nil {
			if k.Optional() {
				return fmt.Errorf("%s: not set (call Normalize first)", name(k))
			}
			continue
		}
		hi := k.Max
		if page {
			hi = k.Limit()
		}
		if err := checkRange(name(k), *p, k.Min, hi); err != nil {
			return err
		}
	}
	return nil
}

// ValidateFlags checks a normalized ks against the engine's ranges, which
// the CLI allows (wider than the playground's), naming each knob by its
// flag: "threads-per-child 99 out of range 1..64".
func (ks Knobs) ValidateFlags() error {
	if err := ks.validate(false, func(k *Knob) string { return k.Flag }); err != nil {
		return err
	}
	return ks.consistent(func(name string) string { return KnobNamed(name).Flag })
}

// consistent checks the knobs that bound each other, naming them with name.
func (ks Knobs) consistent(name func(string) string) error {
	if ks.StartServers > ks.MaxRequestWorkers {
		return fmt.Errorf("%s %d exceeds %s %d", name("start_servers"), ks.StartServers, name("max_request_workers"), ks.MaxRequestWorkers)
	}
	if ks.MinSpare >= 0 && ks.MinSpare >= ks.MaxSpare {
		return fmt.Errorf("%s %d must be below %s %d", name("min_spare"), ks.MinSpare, name("max_spare"), ks.MaxSpare)
	}
	return nil
}
