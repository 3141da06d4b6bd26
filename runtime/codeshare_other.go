//go:build !(linux && (amd64 || arm64))

package runtime

import (
	"errors"
	goruntime "runtime"
)

// shareCode runs load; sharing machine code between processes is
// implemented on Linux alone (see codeshare_linux.go).
func shareCode(dir string, load func() error) (err, shareErr error) {
	return load(), errors.New("not implemented on " + goruntime.GOOS + "/" + goruntime.GOARCH)
}
