//go:build !linux

package models

import "net"

// rawSocket: sockets are read and written with raw system calls only on
// Linux (rawio_linux.go); elsewhere a connection reads and writes as its
// net.Conn does.
type rawSocket struct{ net.Conn }

func newRawSocket(net.Conn) *rawSocket { return nil }
