//go:build !linux

package models

import (
	"sync/atomic"
	"time"
)

// deadman is the Linux kernel-timer backstop against a frozen worker (see
// deadman_linux.go). Elsewhere it does nothing: a runaway is still cut off
// by the worker's own timer, and a frozen worker by the supervisor's
// heartbeat check.
type deadman struct{}

func newDeadman(limit, grace time.Duration, due *atomic.Int64) (*deadman, error) {
	return &deadman{}, nil
}

func (d *deadman) start() (end func()) { return func() {} }
