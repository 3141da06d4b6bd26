//go:build !linux

package runtime

import "github.com/tetratelabs/wazero/experimental"

// instanceMemory gives wazero no allocator here: it uses its own, a Go
// []byte grown by copying (see memory_mmap.go).
type instanceMemory struct{}

func (*instanceMemory) allocator() experimental.MemoryAllocator { return nil }

func (*instanceMemory) mapping() []byte { return nil }

func (*instanceMemory) reclaimer(from int, size func() uint32) func() { return nil }
