//go:build linux && (amd64 || arm64)

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With SharePages, instances' memory as instantiated is mapped from one
// file, copied on write: each instance still has memory of its own.
func TestShareImage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The interpreter: a compile that fills no cache, and the same memory.
	e, err := NewEngine(ctx, EngineConfig{CacheDir: dir, Interpreter: true, SharePages: true, MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, exampleWasm(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	insts := []*Instance{startModule(t, m, InstanceConfig{}), startModule(t, m, InstanceConfig{})}
	for _, inst := range insts {
		if err := inst.MemoryShared(); err != nil {
			t.Fatal(err)
		}
	}
	files, err := os.ReadDir(filepath.Join(dir, memoryDir))
	if err != nil || len(files) != 1 {
		t.Fatalf("memory files %v (%v), want one", files, err)
	}
	path := filepath.Join(dir, memoryDir, files[0].Name())
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, " "+path) {
			if !strings.Contains(line, " rw-p ") {
				t.Errorf("mapped as %q", line)
			}
			n++
		}
	}
	if n != 2 {
		t.Errorf("%s mapped %d times, want 2", path, n)
	}
	// Each serves, with state of its own.
	for i, inst := range insts {
		for range 3 {
			if resp, err := get(t, inst, "/"); err != nil || resp.Status != 200 {
				t.Fatalf("instance %d: %v, %v", i, resp, err)
			}
		}
	}

	e2, err := NewEngine(ctx, EngineConfig{CacheDir: dir, Interpreter: true, MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := e2.Compile(ctx, exampleWasm(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := startModule(t, m2, InstanceConfig{}).MemoryShared(); err == nil {
		t.Error("MemoryShared = nil without SharePages")
	}
}
