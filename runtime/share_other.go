//go:build !(linux && (amd64 || arm64))

package runtime

import (
	"errors"
	goruntime "runtime"
)

var errNoSharing = errors.New("not implemented on " + goruntime.GOOS + "/" + goruntime.GOARCH)

// shareCode runs load; sharing pages between processes is implemented on
// Linux alone (see codeshare_linux.go, memshare_linux.go).
func shareCode(dir string, load func() error) (shared []span, err, shareErr error) {
	return nil, load(), errNoSharing
}

// span is an address range [start, end).
type span struct{ start, end uintptr }

func dropPages([]span) error { return nil } // nothing is shared: nothing to drop

// DropBinaryPages is implemented on Linux alone (codeshare_linux.go).
func DropBinaryPages() error { return nil }

func shareImage(dir string, mem []byte) (int, error) { return 0, errNoSharing }
