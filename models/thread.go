package models

import (
	"fmt"
	"net"
)

// Thread is Apache's worker MPM: worker processes with ThreadsPerChild
// threads each, a guest instance per thread, one connection per thread.
//
// Directives: StartServers (here the fixed number of processes, as
// ServerLimit), ThreadsPerChild, MaxConnectionsPerChild, KeepAlive,
// KeepAliveTimeout and MaxKeepAliveRequests. A process's listener accepts
// only while one of its threads is free; a connection holds its thread
// until it closes, idle keep-alive time included, so clients that keep
// their connections open pin every thread and the rest wait in the listen
// backlog. A crash takes down every thread of its process.
const Thread Model = "thread"

type threadPolicy struct{ row }

var _ = register(threadPolicy{row(Thread)})

func (threadPolicy) Start(c *Config) int               { return c.Processes }
func (threadPolicy) Spares(*Config, int, int, int) int { return 0 }
func (threadPolicy) ProcessLabel(c *Config, i int) string {
	return fmt.Sprintf("process %d with %d threads", i, c.ThreadsPerChild)
}
func (threadPolicy) Crash(c *Config) string {
	return fmt.Sprintf("its %d threads and their connections", c.ThreadsPerChild)
}

func (threadPolicy) gate(w *worker, inner net.Listener) gate { return newLaneGate(w, inner) }
