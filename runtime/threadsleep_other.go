//go:build !linux

package runtime

import "time"

// sleepThread holds the calling goroutine for d (see the Linux version).
func sleepThread(d time.Duration) { time.Sleep(d) }
