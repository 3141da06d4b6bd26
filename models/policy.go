package models

import (
	"errors"
	"fmt"
	"net"
)

// Policy is one concurrency model: the answers the supervisor and the
// worker processes ask of it. Each model is one file — process.go,
// thread.go, reactor.go, event.go — whose doc comment names the Apache or
// nginx behaviour it mirrors; the supervisor (supervisor.go) and the worker
// (worker.go) are mechanisms that ask and never name a model.
//
// # Notes
//
// A Policy holds no state: the supervisor and every worker process call it
// with the Config in effect. A model's knobs are validated by Config.Validate
// (every knob, whichever model runs).
type Policy interface {
	// Model is the model's name.
	Model() Model
	// Pool returns how many worker processes to start and how many
	// scoreboard slots there are (the most processes at once).
	Pool(c *Config) (start, slots int)
	// Lanes is how many guest instances (threads, or loops) each worker
	// process runs.
	Lanes(c *Config) int
	// Spares is the idle-server maintenance run once a second: given the
	// processes alive and the idle ones among them, it returns how many to
	// start (> 0) or to retire (< 0). rate is the last call's result
	// (prefork doubles its spawn rate while short of spares).
	Spares(c *Config, alive, idle, rate int) int
	// ProcessLabel names worker process index in the supervisor's log.
	ProcessLabel(c *Config, index int) string
	// LaneLabel names a lane the way guest.Worker does ("thread 2.5").
	LaneLabel(process, lane int) string
	// Threads reports whether lanes are OS threads of one process, each
	// pinned to a thread of its own.
	Threads() bool
	// Loop reports whether a lane is a cooperative loop serving every
	// connection of its process (loop lag, passes, stub_status counts).
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

// Policies lists every model's policy, in the order mpmlab compares them.
var Policies = []Policy{processPolicy{}, threadPolicy{}, reactorPolicy{}, eventPolicy{}}

// PolicyOf returns model m's policy.
func PolicyOf(m Model) (Policy, error) {
	for _, p := range Policies {
		if p.Model() == m {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown model %q (want %s)", m, modelList())
}

func modelList() string {
	s := ""
	for i, p := range Policies {
		switch {
		case i == len(Policies)-1:
			s += " or "
		case i > 0:
			s += ", "
		}
		s += string(p.Model())
	}
	return s
}
