//go:build !linux

package models

import "errors"

// HeldConns counts the connections a server on port holds open; only on
// Linux, which has sock_diag (see conns_linux.go).
func HeldConns(port int) (int, error) {
	return 0, errors.New("connections held: only on Linux")
}
