package models

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropBinaryPages drops the worker's page-table entries for its own
// binary's read-only mappings (text and read-only data), as
// runtime.Module.DropCodePages does for the guest's machine code: the
// pages stay in the page cache, shared, and those the worker runs from
// then on are mapped again by minor faults. The mpmlab binary is the
// supervisor, the playground and the CLI too, and a worker's start runs
// the initialisation of every package it links; a serving worker needs a
// part. Mappings it writes (data, bss) are left alone.
func dropBinaryPages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00a7d000 r-xp 00000000 fe:00 123 /path/to/mpmlab
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || fields[5] != exe || (fields[1] != "r-xp" && fields[1] != "r--p") {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("/proc/self/maps: %q", sc.Text())
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("dropping the binary's pages at %#x: %w", start, errno)
		}
	}
	return sc.Err()
}
