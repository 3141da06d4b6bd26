package models

import (
	"errors"
	"fmt"
	"net"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Policy is one concurrency model: the answers the supervisor and the
// worker processes ask of it. Each model is one file — process.go,
// thread.go, reactor.go, event.go — whose doc comment names the Apache or
// nginx behaviour it mirrors; the supervisor (supervisor.go) and the worker
// (worker.go) are mechanisms that ask and never name a model.
//
// What the page and the CLI must know of a model too — its name, the
// server it mirrors, its size (processes × lanes), whether a connection
// pins a lane, whether lanes are threads or loops, their labels, its
// colour — is its row of experiment.ModelTable, which the policy answers
// from (the embedded row). A model is added by its policy file, which
// registers the policy (register), and its row.
//
// # Notes
//
// A Policy holds no state: the supervisor and every worker process call it
// with the Config in effect. A model's knobs are validated by Config.Validate
// (every knob, whichever model runs).
type Policy interface {
	// Model is the model's name.
	Model() Model
	// Start returns how many worker processes to start. The scoreboard's
	// slots (the most processes at once) and each process's lanes are the
	// model's row of experiment.ModelTable (Slots, Lanes).
	Start(c *Config) int
	// Slots is the most worker processes at once: the scoreboard's slots
	// (the row's Processes knob).
	Slots(c *Config) int
	// Lanes is how many guest instances (threads, or loops) each worker
	// process runs (the row's Lanes knob).
	Lanes(c *Config) int
	// PinsLane reports whether a keep-alive connection holds its lane
	// while idle between requests, so that idle clients can hold every
	// lane while new ones wait (keep-alive pinning): the row's PinsLane.
	PinsLane() bool
	// Spares is the idle-server maintenance run once a second: given the
	// processes alive and the idle ones among them, it returns how many to
	// start (> 0) or to retire (< 0). rate is the last call's result
	// (prefork doubles its spawn rate while short of spares).
	Spares(c *Config, alive, idle, rate int) int
	// ProcessLabel names worker process index in the supervisor's log.
	ProcessLabel(c *Config, index int) string
	// LaneLabel names a lane the way guest.Worker does ("thread 2.5"):
	// the row's ModelSpec.LaneLabel.
	LaneLabel(process, lane int) string
	// Threads reports whether lanes are OS threads of one process, each
	// pinned to a thread of its own (the row's Threads).
	Threads() bool
	// Loop reports whether a lane is a cooperative loop serving every
	// connection of its process (loop lag, passes, stub_status counts):
	// the row's Loop.
	Loop() bool
	// Crash says what one crashed worker process takes down with it, for
	// the summary: "its own connection", "its 4 threads".
	Crash(c *Config) string

	// gate is the worker's accept policy: when it takes a connection from
	// the shared listening socket, and which lane serves each request.
	gate(w *worker, inner net.Listener) gate
}

// A gate accepts connections for a worker process as its model allows and
// tells the worker which lane serves a request.
type gate interface {
	net.Listener
	// serve returns the lane for a request on cs; done gives it back once
	// the response is out. Without a lane, err says why: errClosing (the
	// worker is closing) or errNoThread (event: no thread is idle, and the
	// connection is closed unanswered).
	serve(cs *connState) (l *lane, done func(), err error)
	// pinsLanes reports whether a connection holds its lane from accept to
	// close (the lane's scoreboard state follows the connection).
	pinsLanes() bool
}

// Why a gate gives a request no lane.
var (
	errClosing  = errors.New("worker is shutting down")
	errNoThread = errors.New("no idle thread")
)

// Policies lists every model's policy, in experiment.ModelTable's order
// (the order mpmlab compares them). Each policy file registers its own
// (register); init orders them by the table, and fails at start if a row
// has no policy or a policy no row.
var Policies []Policy

// registered holds the policies as their files register them.
var registered = map[Model]Policy{}

// register adds a model's policy; each policy file calls it for its own, as
// a package-level variable's initializer (so before init runs).
func register(p Policy) Policy {
	registered[p.Model()] = p
	return p
}

func init() {
	for _, spec := range experiment.ModelTable {
		p := registered[Model(spec.Name)]
		if p == nil {
			panic(fmt.Sprintf("models: model %q of experiment.ModelTable has no policy", spec.Name))
		}
		Policies = append(Policies, p)
		Models = append(Models, p.Model())
	}
	if len(Policies) != len(registered) {
		panic(fmt.Sprintf("models: %d policies registered, %d rows in experiment.ModelTable", len(registered), len(Policies)))
	}
}

// row answers, for the policy that embeds it, what its model's row of
// experiment.ModelTable says: its name, the scoreboard's slots, the lanes
// of a process, whether a connection pins a lane, whether lanes are
// threads or loops, and their labels.
type row Model

func (r row) Model() Model                       { return Model(r) }
func (r row) spec() *experiment.ModelSpec        { return experiment.ModelNamed(string(r)) }
func (r row) Slots(c *Config) int                { return r.spec().ProcessesOf(c.Knobs()) }
func (r row) Lanes(c *Config) int                { return r.spec().LanesOf(c.Knobs()) }
func (r row) PinsLane() bool                     { return r.spec().PinsLane }
func (r row) Threads() bool                      { return r.spec().Threads }
func (r row) Loop() bool                         { return r.spec().Loop }
func (r row) LaneLabel(process, lane int) string { return r.spec().LaneLabel(process, lane) }

// PolicyOf returns model m's policy.
func PolicyOf(m Model) (Policy, error) {
	for _, p := range Policies {
		if p.Model() == m {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown model %q (want %s)", m, modelList())
}

func modelList() string { return experiment.ModelList() }
