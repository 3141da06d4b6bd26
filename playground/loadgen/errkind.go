package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// maxErrorKindLen bounds an error kind taken from an unrecognised error's
// message, so that a summary stays readable.
const maxErrorKindLen = 60

// errorKind reduces a request error to a short kind for Summary.ErrorKinds.
// The same failure reads differently depending on where it struck (dial,
// write, read, body) and net/http wraps it in the URL and method; a kind
// keeps only what it says about the server.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errNotSent):
		return "not sent"
	case errors.Is(err, errNotLoopback):
		return "not loopback"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused" // nothing listening: the server is down
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset" // the server (or its kernel) dropped the connection
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port" // too many connections in TIME_WAIT: try KeepAlive
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF" // the server closed the connection without a (full) response
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	if strings.Contains(msg, "server closed idle connection") {
		return "EOF" // net/http's unexported errServerClosedIdle
	}
	// Unknown: the innermost message, without net/http's `Get "url": ` prefix.
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		msg = u.Error()
	}
	if r := []rune(msg); len(r) > maxErrorKindLen {
		msg = string(r[:maxErrorKindLen]) + "..."
	}
	return msg
}
