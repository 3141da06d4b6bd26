//go:build !linux

package runtime

import "time"

var clockStart = time.Now()

// threadCPU stands in for the thread's CPU time with the wall clock where
// there is no per-thread CPU clock at hand.
func threadCPU() time.Duration { return time.Since(clockStart) }
