//go:build !linux

package models

import "os"

// sharedFile returns a file of size bytes, zeroed, that a child process can
// map: without Linux's memfd_create, a temporary file unlinked at once.
func sharedFile(name string, size int) (*os.File, error) {
	f, err := os.CreateTemp("", name+"-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
