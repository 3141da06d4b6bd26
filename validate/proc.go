package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Readers of the kernel's accounting of a server's process tree, for
// `mpmlab validate --cost` (Linux). The parsers are separate from the
// reads so they can be tested on canned text.

// clockTicks is the unit of the times in /proc/PID/stat (USER_HZ, which
// Linux fixes at 100 for every architecture's user space).
const clockTicks = 100

// parseStatCPU returns the CPU time in a /proc/PID/stat line: utime and
// stime (the process's own threads, user and system) plus cutime and
// cstime (its children that exited and were reaped), fields 14 to 17.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses, so fields are counted after the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state is field 3, so field n is f[n-3].
	if len(f) < 15 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	var ticks int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU time %q: %v", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// memKB is a process's resident memory: RSS, and PSS (each page it shares
// with n processes counted 1/n), in KiB.
type memKB struct{ RSS, PSS int }

// parseSmapsRollup returns the Rss and Pss lines of /proc/PID/smaps_rollup
// ("Rss:   4712 kB"). Both come from one read, so they describe the same
// moment.
func parseSmapsRollup(text string) (memKB, error) {
	var m memKB
	var found int
	for _, line := range strings.Split(text, "\n") {
		key, v, ok := strings.Cut(line, ":")
		if !ok || (key != "Rss" && key != "Pss") {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		if err != nil {
			return m, fmt.Errorf("%s: %q: %v", key, v, err)
		}
		if key == "Rss" {
			m.RSS = kb
		} else {
			m.PSS = kb
		}
		found++
	}
	if found != 2 {
		return m, errors.New("no Rss and Pss lines")
	}
	return m, nil
}

// tree returns pid and its descendants, parents before their children.
// Linux lists a process's children in /proc/PID/task/TID/children, under
// the thread that forked each.
func tree(pid int) []int {
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pids[i]) + "/task/*/children")
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, s := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(s); err == nil && !slices.Contains(pids, c) {
					pids = append(pids, c)
				}
			}
		}
	}
	return pids
}

// treeCPU is the CPU time used so far by pid's tree: every live process's
// own, and its reaped children's. A process that exits during a
// measurement moves from its own count into its parent's children's
// count, so a difference of two readings stays right.
func treeCPU(pid int) (time.Duration, error) {
	var sum time.Duration
	for i, p := range tree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // exited since it was listed
		}
		cpu, err := parseStatCPU(string(b))
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %v", p, err)
		}
		sum += cpu
	}
	return sum, nil
}

// processMemory reads one process's RSS and PSS.
func processMemory(pid int) (memKB, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memKB{}, err
	}
	m, err := parseSmapsRollup(string(b))
	if err != nil {
		return m, fmt.Errorf("/proc/%d/smaps_rollup: %v", pid, err)
	}
	return m, nil
}

// treeMemory is the sum of the RSS and of the PSS of pid's tree. The PSS
// sum counts a page the processes share once; the RSS sum counts it in
// each.
func treeMemory(pid int) (memKB, error) {
	var sum memKB
	for i, p := range tree(pid) {
		m, err := processMemory(p)
		if err != nil {
			if i == 0 || !os.IsNotExist(err) {
				return sum, err
			}
			continue
		}
		sum.RSS += m.RSS
		sum.PSS += m.PSS
	}
	return sum, nil
}

// childMemory is the memory of a typical child of pid: the median RSS and
// the median PSS of its children (a prefork pool's processes), and how
// many there are.
func childMemory(pid int) (memKB, int, error) {
	kids := tree(pid)[1:]
	var rss, pss []float64
	for _, p := range kids {
		if pp := parentOf(p); pp != pid {
			continue // a grandchild
		}
		m, err := processMemory(p)
		if err != nil {
			continue
		}
		rss, pss = append(rss, float64(m.RSS)), append(pss, float64(m.PSS))
	}
	if len(rss) == 0 {
		return memKB{}, 0, fmt.Errorf("process %d has no children to measure", pid)
	}
	return memKB{RSS: int(median(rss)), PSS: int(median(pss))}, len(rss), nil
}

// parentOf is a process's parent's pid (field 4 of /proc/PID/stat), or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
