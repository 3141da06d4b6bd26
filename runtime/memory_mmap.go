//go:build linux

package runtime

import (
	"bytes"
	goruntime "runtime"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// A guest's linear memory is one mapping of its maximum size, made once
// and never moved: growing it only lengthens the slice over it. Without an
// allocator, wazero keeps linear memory in a Go []byte and grows it by
// copying into a larger one, so for a moment the process holds both, and
// the old one stays resident until Go's scavenger returns it. The mapping's
// pages cost nothing until the guest touches them (MAP_NORESERVE: no swap
// is set aside for them either), so reserving the whole limit is free, and
// a guest's resident memory is what its heap has used. See RATIONALE.md,
// "A worker's memory".
//
// An instanceMemory allocates one instance's memory and keeps it, for
// shareImage.
type instanceMemory struct{ m *mappedMemory }

func (a *instanceMemory) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(cap, max uint64) experimental.LinearMemory {
		lm := newMappedMemory(cap, max)
		a.m, _ = lm.(*mappedMemory)
		return lm
	})
}

// mapping returns the whole mapping (nil if there is none).
func (a *instanceMemory) mapping() []byte {
	if a.m == nil {
		return nil
	}
	return a.m.mem
}

type mappedMemory struct{ mem []byte }

func newMappedMemory(_, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	mem, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	m := &mappedMemory{mem: mem}
	// Unmapped only once nothing can reach the memory (see Free).
	goruntime.AddCleanup(m, func(mem []byte) { syscall.Munmap(mem) }, mem)
	return m
}

// Reallocate returns the first size bytes of the mapping, or nil past it.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mem)) {
		return nil
	}
	return m.mem[:size:size]
}

// Free gives the memory's pages back to the kernel; wazero calls it when
// the instance is closed. The mapping itself stays until the memory is
// garbage (the cleanup above), so a guest still running when its module is
// closed reads zeros (or, where shareImage mapped a file, the module's
// data) rather than faulting on its memory.
func (m *mappedMemory) Free() { syscall.Madvise(m.mem, syscall.MADV_DONTNEED) }

// Pages of zeros a guest wrote are given back while it waits.
//
// Go's runtime compiled to WebAssembly cannot give memory back: wasm has no
// way to unmap, so the pages a guest's heap has written stay resident as
// long as the process, even when the runtime has cleared them for reuse. A
// native process returns what it frees (Go's scavenger, glibc's free), and
// the kernel keeps one shared page of zeros for any page never written. So
// while the guest waits in poll_oneoff, with none of its code running,
// reclaim finds the resident pages that hold only zeros and drops them
// (MADV_DONTNEED): the guest reads zeros from them as before, and a page it
// writes again is a new one. Only past the prefix mapped from the shared
// image (shareImage): dropping a page there would bring back the file's
// bytes, not zeros. vwasi.Conn.SetReclaim says how often it runs.

// reclaimer returns what gives back the guest's pages of zeros past its
// first from bytes, up to its memory's current size(); nil when the
// memory is not one of this package's mappings.
func (a *instanceMemory) reclaimer(from int, size func() uint32) func() {
	if a.m == nil {
		return nil
	}
	page := syscall.Getpagesize()
	from = (from + page - 1) / page * page
	zero := make([]byte, page)
	var resident []byte // mincore's answer, a byte a page, reused
	return func() {
		end := min(int(size()), len(a.m.mem)) / page * page
		if end <= from {
			return
		}
		mem := a.m.mem[from:end]
		pages := len(mem) / page
		if cap(resident) < pages {
			resident = make([]byte, pages)
		}
		resident = resident[:pages]
		if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&resident[0]))); errno != 0 {
			return
		}
		run := -1 // first page of the run of zero pages being gathered
		for i := 0; i <= pages; i++ {
			if i < pages && resident[i]&1 != 0 && bytes.Equal(mem[i*page:(i+1)*page], zero) {
				if run < 0 {
					run = i
				}
				continue
			}
			if run >= 0 {
				syscall.Madvise(mem[run*page:i*page], syscall.MADV_DONTNEED)
				run = -1
			}
		}
	}
}
