//go:build linux

package runtime

import (
	goruntime "runtime"
	"syscall"

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
