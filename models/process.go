package models

import (
	"fmt"
	"net"
)

// Process is Apache's prefork MPM: worker processes with one guest instance
// each, so one connection per process at a time.
//
// Directives: StartServers (processes at start), MinSpareServers and
// MaxSpareServers (idle processes the parent keeps ready, counted on the
// scoreboard the processes share with it: below the minimum it spawns 1,
// then 2, 4 … up to 32 a second; above the maximum it retires one a
// second), MaxRequestWorkers (the most processes; beyond
// them connections wait in the listen backlog), MaxConnectionsPerChild,
// KeepAlive, KeepAliveTimeout and MaxKeepAliveRequests. A connection
// holds its process until it closes, idle keep-alive time included. A
// crash takes down only its process's own connection.
const Process Model = "process"

type processPolicy struct{ row }

var _ = register(processPolicy{row(Process)})

func (processPolicy) Start(c *Config) int { return c.StartServers }

// Spares is Apache's perform_idle_server_maintenance.
func (processPolicy) Spares(c *Config, alive, idle, rate int) int {
	switch {
	case idle < c.MinSpare && alive < c.MaxRequestWorkers:
		return min(max(rate, 1), c.MaxRequestWorkers-alive)
	case idle > c.MaxSpare:
		return -1
	}
	return 0
}

func (processPolicy) ProcessLabel(_ *Config, i int) string { return fmt.Sprintf("process %d", i) }
func (processPolicy) Crash(*Config) string                 { return "only its own connection" }

func (processPolicy) gate(w *worker, inner net.Listener) gate { return newLaneGate(w, inner) }
