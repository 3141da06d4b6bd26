package models

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Readers of the kernel's accounting in /proc (Linux; elsewhere they
// report an error or zero).

// acceptQueueDepth reads the listening socket's accept queue length (what
// `ss -lt` shows as Recv-Q) from /proc/net/tcp{,6}.
func acceptQueueDepth(f *os.File) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	inode := strconv.FormatUint(st.Ino, 10)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		pf, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(pf)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[9] != inode || fields[3] != "0A" {
				continue
			}
			_, rx, _ := strings.Cut(fields[4], ":")
			n, err := strconv.ParseUint(rx, 16, 32)
			pf.Close()
			return int(n), err
		}
		pf.Close()
	}
	return 0, errors.New("listening socket not found in /proc/net/tcp")
}

// ProcessRSS returns a process's resident memory in KiB (VmRSS of
// /proc/PID/status), or 0 if it cannot be read.
func ProcessRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
