//go:build !linux

package runtime

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil here: wazero's own, a Go []byte grown by copying
// (see memory_mmap.go).
var memoryAllocator experimental.MemoryAllocator
