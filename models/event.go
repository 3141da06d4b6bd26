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
// The listener follows Apache 2.4's (server/mpm/event/event.c), whose
// rules decide how many clients a process serves (the gate is eventGate,
// in accept.go):
//
//   - It accepts a connection that is pending in the listen backlog only
//     with an idle thread reserved for it (get_worker; a listener that
//     another process beat to the connection keeps the thread reserved,
//     not idle, for whatever it dispatches next), and only while the
//     process holds fewer than ThreadsPerChild + AsyncRequestWorkerFactor ×
//     idle threads connections (connections_above_limit); a connection
//     counts once its thread has taken it up (read its first request).
//     Past the limit it stops accepting (new connections wait in the
//     backlog for this process or another) until the process is under it
//     again, counted with one idle thread fewer (should_enable_listensocks).
//   - Whenever it finds no idle thread (for a pending connection, or for a
//     request on a kept-alive one) it closes every idle keep-alive
//     connection of its process (process_keepalive_queue), so their clients
//     come back through the backlog to a process with room; the request
//     that found no thread has its connection closed unanswered, and its
//     client sends it again on a new one. A request never waits in the
//     process for a thread.
//   - A connection it closes so goes through Apache's lingering close
//     (shutdown_connection, process_lingering_close): it no longer counts
//     against the limit, a thread sends its FIN (the next one done with its
//     request if none is idle: defer_linger_chain), and when the client's
//     FIN comes back the listener wants an idle thread, without waiting,
//     to finish it; finding none, it closes the idle keep-alive
//     connections again. Each round of closing so breeds the next while
//     the threads are busy.
//
// Directives: StartServers (the fixed number of processes, as ServerLimit),
// ThreadsPerChild, AsyncRequestWorkerFactor, MaxConnectionsPerChild and the
// keep-alive knobs. A request that computes holds one thread, not the
// process. A crash takes down every thread of its process and every
// connection it held.
const EventMPM Model = "event"

type eventPolicy struct{ row }

var _ = register(eventPolicy{row(EventMPM)})

func (eventPolicy) Start(c *Config) int               { return c.Processes }
func (eventPolicy) Spares(*Config, int, int, int) int { return 0 }
func (eventPolicy) ProcessLabel(c *Config, i int) string {
	return fmt.Sprintf("process %d with %d threads and a listener", i, c.ThreadsPerChild)
}
func (eventPolicy) Crash(c *Config) string {
	return fmt.Sprintf("its %d threads and every connection its listener held", c.ThreadsPerChild)
}

func (eventPolicy) gate(w *worker, inner net.Listener) gate { return newEventGate(w, inner) }
