//go:build linux && (amd64 || arm64)

package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"syscall"
	"unsafe"
)

// Linear memory's first pages, shared between processes.
//
// Instantiation copies the module's data into linear memory: 2.5 MB of
// pages for a Go guest (the runtime's tables, type data, strings), which a
// guest then mostly only reads (2.4 MB of hello's stay as they were after
// 2,000 requests). Each worker held its own copy. shareImage maps a file
// holding those bytes over the same pages, private and writable: the guest
// reads pages of the page cache that every process running the module
// shares, and a page it writes becomes its own (copy on write), as a page
// of a forked process does.
//
// The file is named by the SHA-256 of its bytes and checked against the
// memory before it is mapped, as the machine code's (codeshare_linux.go).
// It runs before the guest's first instruction, so nothing reads or writes
// the memory meanwhile.

// shareImage maps a file holding mem's bytes, up to its last page that is
// not all zeros, over mem (an instance's linear memory just instantiated:
// what its data segments made it). dir holds the files. It returns how
// many of mem's bytes are now mapped from the file (0 on an error).
func shareImage(dir string, mem []byte) (int, error) {
	page := syscall.Getpagesize()
	if len(mem) == 0 || uintptr(unsafe.Pointer(&mem[0]))%uintptr(page) != 0 {
		return 0, errors.New("memory not page-aligned")
	}
	end := len(mem) / page * page
	zero := make([]byte, page)
	for end > 0 && bytes.Equal(mem[end-page:end], zero) {
		end -= page
	}
	if end == 0 {
		return 0, errors.New("memory holds no data")
	}
	image := mem[:end]
	sum := sha256.Sum256(image)
	path := filepath.Join(dir, hex.EncodeToString(sum[:]))
	start := uintptr(unsafe.Pointer(&mem[0]))
	if err := mapFile(path, func() io.Reader { return bytes.NewReader(image) }, span{start, start + uintptr(end)}, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return 0, err
	}
	return end, nil
}
