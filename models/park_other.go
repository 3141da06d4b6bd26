//go:build !linux

package models

import "errors"

// newPoller: idle connections are parked only on Linux (park_linux.go);
// elsewhere each keeps its goroutine, as under net/http.
func newPoller() (poller, error) { return nil, errors.New("parking idle connections: only on Linux") }
