package validate

import (
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Case is one canned experiment: the same settings, handler behaviour and
// load on an mpmlab model and on the real server it models.
type Case struct {
	Name  string // on the command line: --case prefork-close
	Title string // one line for the table's reader

	Model   string // mpmlab's model: process, thread, event or reactor
	Handler string // mpmlab's handler: a bundled example's name
	Server  string // the real server: apache or nginx
	MPM     string // apache: prefork, worker or event
	// Lua is the real server's handler, a file under validate/ (embedded),
	// doing what Handler does.
	Lua string
	// Knobs are the case's settings as mpmlab's knobs; zero fields are
	// mpmlab's defaults. The model gets the non-zero ones as flags, and the
	// real server's configuration is written from all of them
	// (apache/httpd.conf.tmpl, nginx/nginx.conf.tmpl).
	Knobs experiment.Knobs

	// Load is what the clients do, the same for both sides (its URL is
	// set per side).
	Load loadgen.Config
	// Metric is what is compared.
	Metric Metric
	// Pairs is how many times each side is measured, alternately.
	Pairs int
	// Informational cases are measured and reported but their verdict does
	// not fail the command: Why says what the measurements showed.
	Informational bool
	Why           string
}

// Metric is how a case's figure is taken from one measurement.
type Metric int

const (
	// Rate is the rate of 200 responses that completed while the load
	// ran (req/s). Responses that came after it — requests that waited in
	// a backlog until pinned connections closed — are left out: they
	// would credit a server for making clients wait.
	Rate Metric = iota
	// Ramp is the seconds from a prefork pool's first spawn to its
	// MaxRequestWorkers processes, under load from a pool of
	// StartServers. From the first spawn, not from the load's start: both
	// servers run their spare-server maintenance once a second at a phase
	// of their own, which would add up to a second of chance.
	Ramp
)

func (m Metric) String() string {
	if m == Ramp {
		return "s from 1st spawn to max processes"
	}
	return "req/s answered within the load"
}

// The loads' lengths: long enough for several think cycles and for the
// servers' once-a-second maintenance to act a few times.
const (
	rateDuration = 8 * time.Second
	rampDuration = 8 * time.Second // a ramp's load ends once the pool is full
)

// Cases are the canned experiments, in the order they run.
var Cases = []Case{
	{
		Name:  "prefork-close",
		Title: "prefork, 8 processes, 50 ms sleep, 40 clients, Connection: close",
		Model: "process", Handler: "sleep", Server: "apache", MPM: "prefork", Lua: "apache/block.lua",
		Knobs: experiment.Knobs{StartServers: 8, MaxRequestWorkers: 8, MaxSpare: 8},
		Load:  loadgen.Config{Concurrency: 40, Duration: rateDuration, KeepAlive: false},
		Pairs: 3,
	},
	{
		Name:  "prefork-keepalive",
		Title: "prefork, 8 processes, 50 ms sleep, 40 keep-alive clients thinking 1 s: 8 pinned",
		Model: "process", Handler: "sleep", Server: "apache", MPM: "prefork", Lua: "apache/block.lua",
		Knobs: experiment.Knobs{StartServers: 8, MaxRequestWorkers: 8, MaxSpare: 8},
		Load:  loadgen.Config{Concurrency: 40, Think: time.Second, Duration: rateDuration, KeepAlive: true},
		Pairs: 3,
	},
	{
		Name:  "worker",
		Title: "worker, 2 processes x 4 threads, 50 ms blocking, 100 keep-alive clients thinking 1 s",
		Model: "thread", Handler: "blocking", Server: "apache", MPM: "worker", Lua: "apache/block.lua",
		Knobs: experiment.Knobs{Processes: 2, ThreadsPerChild: 4},
		Load:  loadgen.Config{Concurrency: 100, Think: time.Second, Duration: rateDuration, KeepAlive: true},
		Pairs: 3,
	},
	{
		// The event MPM's point at its defaults, where it holds steady:
		// fewer clients than the processes' connection limits
		// (ThreadsPerChild + AsyncRequestWorkerFactor x idle threads, 12
		// each with its threads idle), so each listener holds its idle
		// kept-alive connections and every client is served, about 19 req/s
		// where worker's 8 pinned threads serve 8 clients, 7.6. The 100
		// clients of the case below are past the limits, where the rate
		// swings from one run to the next on both sides.
		Name:  "event-keepalive",
		Title: "event, 2 processes x 4 threads, 50 ms blocking, 20 keep-alive clients thinking 1 s: held by the listeners",
		Model: "event", Handler: "blocking", Server: "apache", MPM: "event", Lua: "apache/block.lua",
		Knobs: experiment.Knobs{Processes: 2, ThreadsPerChild: 4},
		Load:  loadgen.Config{Concurrency: 20, Think: time.Second, Duration: rateDuration, KeepAlive: true},
		Pairs: 3,
	},
	{
		Name:  "event",
		Title: "event, 2 processes x 4 threads, 50 ms blocking, 100 keep-alive clients thinking 1 s",
		Model: "event", Handler: "blocking", Server: "apache", MPM: "event", Lua: "apache/block.lua",
		Knobs: experiment.Knobs{Processes: 2, ThreadsPerChild: 4},
		Load:  loadgen.Config{Concurrency: 100, Think: time.Second, Duration: rateDuration, KeepAlive: true},
		Pairs: 5,
		// Not steady on either side (validate/README.md, "140 pairs").
		// Apache against a second, identical Apache, five pairs as here,
		// gave medians' ratios 0.89 to 1.41 in six runs; over 140 pairs in
		// ten runs the model served what Apache served (means 51.3 and
		// 51.4 req/s), yet those runs of 5 to 40 pairs gave ratios of 0.73
		// to 1.16 and Apache's own mean moved from 47.8 to 59.3. No run CI
		// could afford holds any model to 15% here.
		Informational: true,
		Why: "not steady on either side: Apache against a second, identical Apache in five pairs of 8 s gave medians' ratios " +
			"of 0.89 to 1.41 (its loads 29 to 72 req/s); over 140 pairs in ten runs the model served what Apache served " +
			"(means of 51.3 and 51.4 req/s), while those runs of 5 to 40 pairs gave ratios of 0.73 to 1.16",
	},
	{
		Name:  "nginx-sleep",
		Title: "nginx, 1 worker, 50 ms yielding sleep, 200 keep-alive clients",
		Model: "reactor", Handler: "sleep", Server: "nginx", Lua: "nginx/sleep.lua",
		Knobs: experiment.Knobs{Loops: 1},
		Load:  loadgen.Config{Concurrency: 200, Duration: rateDuration, KeepAlive: true},
		Pairs: 3,
		// Held to 15% since December 2026: ten runs in a row, 3 pairs of
		// 8 s each, gave 0.96-0.97 on a quiet 2-core machine and 0.90-0.93
		// under two busy loops (validate/README.md). Earlier builds, whose
		// request cost the reactor more CPU (RATIONALE.md, "What a request
		// costs"), gave 0.79 to 0.87, and 0.56 to 1.32 on a machine at
		// load average 9 to 12; the 200 sleeps bound both sides at 4,000
		// req/s, so the reactor's dearer request shows as a lower rate
		// only when the cores run short.
	},
	{
		// 20 clients, not 200: one loop answers 20 of these a second, so
		// 200 clients would wait 10 s a request and the run would be over
		// before it was steady.
		Name:  "nginx-block",
		Title: "nginx, 1 worker, 50 ms blocking, 20 keep-alive clients",
		Model: "reactor", Handler: "blocking", Server: "nginx", Lua: "nginx/block.lua",
		Knobs: experiment.Knobs{Loops: 1},
		Load:  loadgen.Config{Concurrency: 20, Duration: rateDuration, KeepAlive: true},
		Pairs: 3,
	},
	{
		Name:  "prefork-ramp",
		Title: "prefork ramp, StartServers 2 to MaxRequestWorkers 8, 50 ms sleep, 40 clients, Connection: close",
		Model: "process", Handler: "sleep", Server: "apache", MPM: "prefork", Lua: "apache/block.lua",
		Knobs:  experiment.Knobs{StartServers: 2},
		Load:   loadgen.Config{Concurrency: 40, Duration: rampDuration, KeepAlive: false},
		Metric: Ramp,
		Pairs:  5,
	},
}

// CaseNamed returns the case called name, or nil.
func CaseNamed(name string) *Case {
	for i := range Cases {
		if Cases[i].Name == name {
			return &Cases[i]
		}
	}
	return nil
}
