package models

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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
func ProcessRSS(pid int) int { return procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") }

// ProcessPSS returns a process's proportional set size in KiB (Pss of
// /proc/PID/smaps_rollup): its resident memory, with each page it shares
// with n processes counted 1/n. 0 if it cannot be read.
func ProcessPSS(pid int) int { return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:") }

// TotalPSS returns the PSS of the processes pids, summed, in KiB
// (ProcessPSS of each; a process that cannot be read counts 0).
func TotalPSS(pids []int) int {
	kb := 0
	for _, pid := range pids {
		kb += ProcessPSS(pid)
	}
	return kb
}

// procKB reads the "key   1234 kB" line of a /proc file, or 0.
func procKB(file, key string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// which Linux fixes at 100 for every architecture's user space).
const clockTicks = 100

// ProcessCPU returns the CPU time (user and system, all threads) a live
// process has used, from /proc/PID/stat, or 0 if it cannot be read.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing one. utime and stime are fields 14
	// and 15, the 12th and 13th after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}
