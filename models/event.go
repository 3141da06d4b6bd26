package models

import (
	"fmt"
	"net"
)

// EventMPM is Apache's event MPM: the worker MPM's processes and threads,
// plus a listener thread per process that holds idle keep-alive
// connections in an event loop and hands a connection to a worker thread
// only when a request arrives on it. A thread serves one request, not one
// connection: clients that keep their connections open between requests
// cost no thread while they think.
//
// Directives: StartServers (the fixed number of processes, as ServerLimit),
// ThreadsPerChild, AsyncRequestWorkerFactor (a process accepts connections
// only while it has fewer than ThreadsPerChild + AsyncRequestWorkerFactor ×
// its idle threads; past that limit it stops accepting, so new
// connections wait in the listen backlog for another process, and when no
// thread is idle it closes its idle keep-alive connections to make room),
// MaxConnectionsPerChild and the keep-alive knobs. A request that computes
// holds one thread, not the process. A crash takes down every thread of
// its process and every connection it held.
const EventMPM Model = "event"

type eventPolicy struct{}

func (eventPolicy) Model() Model                      { return EventMPM }
func (eventPolicy) Pool(c *Config) (int, int)         { return c.Processes, c.Processes }
func (eventPolicy) Lanes(c *Config) int               { return c.ThreadsPerChild }
func (eventPolicy) Spares(*Config, int, int, int) int { return 0 }
func (eventPolicy) ProcessLabel(c *Config, i int) string {
	return fmt.Sprintf("process %d with %d threads and a listener", i, c.ThreadsPerChild)
}
func (eventPolicy) LaneLabel(p, l int) string { return fmt.Sprintf("thread %d.%d", p, l) }
func (eventPolicy) Threads() bool             { return true }
func (eventPolicy) Loop() bool                { return false }
func (eventPolicy) Crash(c *Config) string {
	return fmt.Sprintf("its %d threads and every connection its listener held", c.ThreadsPerChild)
}

func (eventPolicy) gate(w *worker, inner net.Listener) gate { return newEventGate(w, inner) }
