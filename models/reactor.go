package models

import (
	"fmt"
	"net"
)

// Reactor is nginx (and node): one cooperative loop per worker process, a
// single guest instance serving every connection of its loop.
//
// Directives: worker_processes (Loops), worker_connections (Connections:
// past them a loop accepts a new connection and closes it at once), the
// keep-alive knobs, and multi_accept off: a loop accepts at most one
// connection per pass, so a loop held by a handler accepts nothing. A
// handler that computes or blocks holds the whole loop; time.Sleep and
// channels park only their request. A crash drops every connection of the
// loop.
const Reactor Model = "reactor"

type reactorPolicy struct{ row }

var _ = register(reactorPolicy{row(Reactor)})

func (reactorPolicy) Start(c *Config) int               { return c.Loops }
func (reactorPolicy) Spares(*Config, int, int, int) int { return 0 }
func (reactorPolicy) ProcessLabel(_ *Config, i int) string {
	return fmt.Sprintf("loop %d", i)
}
func (reactorPolicy) Crash(*Config) string { return "every connection of its loop" }

// gate: nginx keeps an idle keep-alive connection as a registration in
// its epoll set, not a thread or a stack; so does the loop (park.go).
func (reactorPolicy) gate(w *worker, inner net.Listener) gate {
	return parkIdle(w, newLoopGate(w, inner))
}
