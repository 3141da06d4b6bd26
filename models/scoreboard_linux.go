package models

import (
	"os"

	"golang.org/x/sys/unix"
)

// sharedFile returns a memory file of size bytes, zeroed, that a child
// process can map (memfd_create: no file system is involved). It is closed
// on exec unless passed as an ExtraFile.
func sharedFile(name string, size int) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
