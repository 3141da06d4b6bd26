//go:build linux && (amd64 || arm64)

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
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

// While a guest waits, the pages of zeros it wrote are given back to the
// kernel (memory_mmap.go); what it wrote other bytes to stays, and it
// reads the same bytes as before from both.
func TestReclaimZeroPages(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{CacheDir: t.TempDir(), Interpreter: true, SharePages: true, MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, guestWasm(t, `package main

import (
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

var zeros, sevens []byte

func main() {
	http.HandleFunc("/fill", func(w http.ResponseWriter, r *http.Request) {
		zeros, sevens = make([]byte, 4<<20), make([]byte, 1<<20)
		for i := range zeros { // written, then cleared: resident, all zeros
			zeros[i] = 1
		}
		clear(zeros)
		for i := range sevens {
			sevens[i] = 7
		}
	})
	http.HandleFunc("/check", func(w http.ResponseWriter, r *http.Request) {
		for _, b := range zeros {
			if b != 0 {
				http.Error(w, "a page of zeros changed", 500)
				return
			}
		}
		for _, b := range sevens {
			if b != 7 {
				http.Error(w, "a page of sevens changed", 500)
				return
			}
		}
	})
	guest.Serve(nil)
}
`))
	if err != nil {
		t.Fatal(err)
	}
	inst := startModule(t, m, InstanceConfig{})
	if err := inst.MemoryShared(); err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	resident := func() int { // pages of the guest's memory in RAM
		mem := inst.memory.mapping()[:inst.mod.Memory().Size()]
		vec := make([]byte, len(mem)/page)
		if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatal(errno)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	do := func(uri string) {
		t.Helper()
		if resp, err := get(t, inst, uri); err != nil || resp.Status != 200 {
			t.Fatalf("%s: %v %v", uri, resp, err)
		}
	}
	do("/check")
	before := resident()
	do("/fill")
	// The 4 MiB of zeros were all written; only the 1 MiB of sevens, and
	// what the guest's runtime keeps for them, may stay.
	want := before + (1<<20+512<<10)/page
	deadline := time.Now().Add(10 * time.Second)
	for resident() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d pages resident a while after /fill, want at most %d (%d before it)", resident(), want, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	do("/check")
}

// reclaim leaves the pages mapped from the shared image alone: dropping a
// page of zeros there would bring back the file's bytes, not zeros.
func TestReclaimSparesTheImage(t *testing.T) {
	var memory instanceMemory
	lm := memory.allocator().Allocate(0, 16<<20)
	page := os.Getpagesize()
	mem := lm.Reallocate(uint64(8 * page))
	for i := range 2 * page { // the image: two pages of data
		mem[i] = 0x5a
	}
	shared, err := shareImage(t.TempDir(), mem)
	if err != nil || shared != 2*page {
		t.Fatalf("shareImage = %d, %v; want %d bytes shared", shared, err, 2*page)
	}
	clear(mem[:page])               // the guest clears a page of the image,
	mem[3*page] = 1                 // writes one past it,
	mem[4*page], mem[4*page] = 1, 0 // and writes and clears another
	memory.reclaimer(shared, func() uint32 { return uint32(len(mem)) })()
	// Residence first: reading a page given back maps the kernel's page of zeros.
	vec := make([]byte, 8)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	if vec[3]&1 == 0 || vec[4]&1 != 0 {
		t.Fatalf("resident pages %v: want page 3 (written) kept and page 4 (cleared) given back", vec)
	}
	for i, b := range mem[:page] {
		if b != 0 {
			t.Fatalf("byte %d of the cleared image page is %#x after reclaim, want 0", i, b)
		}
	}
	if mem[page] != 0x5a || mem[3*page] != 1 || mem[4*page] != 0 {
		t.Fatalf("bytes changed by reclaim: %#x %#x %#x", mem[page], mem[3*page], mem[4*page])
	}
}
