package models

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A worker starting up runs code from all over its guest's machine code and
// its own binary; once ready it holds only what serving maps again
// (releaseStartupMemory): a fraction of the guest's machine code, not the
// 14-16 MB of its 20 MB that a worker held before, and about half of the
// binary's text and read-only data (the runtime's own tables are most of
// what it maps again), not all of it. And it serves on the pages it maps
// again.
func TestWorkerDropsStartupPages(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no smaps here")
	}
	cfg := standbyConfig(t, 2)
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, pid := range s.PIDs() {
		code, codeSize := mappedKB(t, pid, func(path, perms string) bool { return strings.Contains(path, "/mpmlab-code/") })
		bin, binSize := mappedKB(t, pid, func(path, perms string) bool {
			return path == cfg.Executable && (perms == "r-xp" || perms == "r--p")
		})
		t.Logf("worker %d: machine code %d of %d KiB resident, binary's read-only mappings %d of %d KiB", pid, code, codeSize, bin, binSize)
		if codeSize == 0 || code > codeSize/4 {
			t.Errorf("worker %d: %d KiB of its %d KiB of machine code resident once ready, want at most a quarter", pid, code, codeSize)
		}
		if binSize == 0 || bin > binSize*3/4 {
			t.Errorf("worker %d: %d KiB of its binary's %d KiB of read-only mappings resident once ready, want at most three quarters", pid, bin, binSize)
		}
	}
	for range 20 {
		if status, body := get(t, s.URL()+"/"); status != 200 {
			t.Fatalf("after the pages were dropped: status %d: %s", status, body)
		}
	}
}

// mappedKB sums, over the mappings of process pid that match, the resident
// KiB and the size in KiB.
func mappedKB(t *testing.T, pid int, match func(path, perms string) bool) (rss, size int) {
	t.Helper()
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && !strings.HasSuffix(f[0], ":"):
			// 7f3f5acd6000-7f3f5c000000 r-xp 00000000 fe:00 10069954 /path
			in = len(f) == 6 && match(f[5], f[1])
		case in && len(f) == 3 && f[0] == "Size:":
			n, _ := strconv.Atoi(f[1])
			size += n
		case in && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			rss += n
		}
	}
	return rss, size
}
