//go:build linux && (amd64 || arm64)

package runtime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Machine code shared between processes.
//
// wazero loads a module's machine code from its compilation cache by
// copying it into anonymous memory it maps for the purpose
// (internal/engine/wazevo/engine_cache.go: platform.MmapCodeSegment, then
// io.ReadFull from the cache file, then mprotect to read+execute), so every
// worker process holds a private copy, about four times the module's size.
// Its cache files cannot be mapped instead: the code sits in them after a
// header of variable length, at an offset that is not page-aligned, and
// wazero offers no hook for the memory it loads code into.
//
// shareCode therefore lets wazero load as it does and then swaps the
// pages: it finds the executable mappings that the load created (those in
// /proc/self/maps after it and not before), writes their bytes once to a
// file in dir, checks the file's bytes against the memory, and maps the
// file over the same addresses (MAP_FIXED), read and execute, private. The
// process runs exactly the bytes it ran before, now pages of the page
// cache that every process mapping the file shares.
//
// # Notes
//
//   - The memory is read through /proc/self/mem, so a mapping that vanished
//     meanwhile is an error, not a fault; any error leaves the anonymous
//     copy in place (the process works, it only does not share).
//   - Nothing else in the process may create or remove executable mappings
//     while shareCode runs: another's would be taken for the load's (codeMu
//     serialises the loads), and code that wazero unmaps meanwhile (a
//     finalizer of an unreachable module) may leave its address to the
//     load's, which would then not look new. A worker process compiles
//     once, at its start, and never lets a module go.
//   - wazero unmaps the code when the compiled module is released; it
//     unmaps the file's pages as it would its own.
//   - A file in dir may be deleted at any time (mappings keep it), but must
//     never be rewritten in place: a process that maps it would run the new
//     bytes. shareCode only ever replaces one by rename.

// codeMu serialises the loads whose mappings shareCode compares.
var codeMu sync.Mutex

// shareCode runs load and backs the executable memory it mapped with files
// in dir (see above). It returns the spans it mapped from files and load's
// error; a failure to share is reported by the third result, for the
// caller to log or ignore.
func shareCode(dir string, load func() error) (shared []span, err, shareErr error) {
	codeMu.Lock()
	defer codeMu.Unlock()
	before, shareErr := execMappings()
	if err = load(); err != nil || shareErr != nil {
		return nil, err, shareErr
	}
	after, shareErr := execMappings()
	if shareErr != nil {
		return nil, nil, shareErr
	}
	mem, shareErr := os.Open("/proc/self/mem")
	if shareErr != nil {
		return nil, nil, shareErr
	}
	defer mem.Close()
	added := subtract(after, before)
	if len(added) == 0 {
		return nil, nil, errors.New("the load mapped no new machine code")
	}
	for _, m := range added {
		mapped, e := shareMapping(dir, mem, m)
		shared = append(shared, mapped...)
		if e != nil {
			shareErr = errors.Join(shareErr, e)
		}
	}
	return shared, nil, shareErr
}

// dropPages drops the process's page-table entries for the spans, which
// must be mapped from files and never written (shareCode's): their bytes
// stay in the page cache, and an access maps them again (a minor fault).
// On a private copy of its own, MADV_DONTNEED would zero the code instead.
func dropPages(spans []span) error {
	for _, s := range spans {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s.start, uintptr(s.len()), syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("dropping pages at %#x: %w", s.start, errno)
		}
	}
	return nil
}

// span is an address range [start, end), page-aligned.
type span struct{ start, end uintptr }

func (s span) len() int64 { return int64(s.end - s.start) }

// execMappings lists the process's anonymous private mappings that are
// readable and executable, in address order.
func execMappings() ([]span, error) {
	return mappings(func(perms, inode, path string) bool { return perms == "r-xp" && inode == "0" && path == "" })
}

// mappings lists the process's mappings that keep says to, in address
// order, from the permissions, inode and path (empty if none) of each
// line of /proc/self/maps.
func mappings(keep func(perms, inode, path string) bool) ([]span, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7fa2785b2000-7fa2798dc000 r-xp 00000000 00:00 0 [path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("/proc/self/maps: %q", sc.Text())
		}
		path := ""
		if len(fields) == 6 {
			path = fields[5]
		} else if len(fields) > 6 {
			continue // a path with spaces, or "(deleted)": none of ours
		}
		if !keep(fields[1], fields[4], path) {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/self/maps: %q", sc.Text())
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	return spans, sc.Err()
}

// DropBinaryPages drops the process's page-table entries for its own
// binary's read-only mappings (text and read-only data), as
// Module.DropCodePages does for a guest's machine code: the pages stay in
// the page cache, shared, and those the process runs from then on are
// mapped again by minor faults. A worker calls it once its guests have
// started up: the mpmlab binary is the supervisor, the playground and the
// CLI too, and a worker's start runs the initialisation of every package
// it links, where serving needs a part. Mappings the process writes (data,
// bss) are left alone.
func DropBinaryPages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	spans, err := mappings(func(perms, inode, path string) bool { return path == exe && (perms == "r-xp" || perms == "r--p") })
	if err != nil {
		return err
	}
	return dropPages(spans)
}

// subtract returns the parts of the spans in a that no span in b covers:
// the mappings that are new, including new pages the kernel merged into an
// older neighbour's mapping.
func subtract(a, b []span) []span {
	var out []span
	for _, s := range a {
		parts := []span{s}
		for _, o := range b {
			var next []span
			for _, p := range parts {
				if o.end <= p.start || o.start >= p.end {
					next = append(next, p)
					continue
				}
				if p.start < o.start {
					next = append(next, span{p.start, o.start})
				}
				if o.end < p.end {
					next = append(next, span{o.end, p.end})
				}
			}
			parts = next
		}
		out = append(out, parts...)
	}
	return out
}

// shareMapping backs one executable mapping with files of its bytes, and
// returns the spans it mapped from them.
//
// The load maps the code and, after it, a page or two of entry preambles,
// which the kernel sometimes merges into one mapping with the code, and
// sometimes not: one process sees both as one mapping, the next as two.
// So a file is found by its last page, not by all of its bytes: it is
// named by the SHA-256 of its last page and its length, and a file that
// ends as the mapping does covers the mapping's end (or the mapping covers
// the file's end); what is left of the mapping is shared in turn.
func shareMapping(dir string, mem *os.File, m span) (mapped []span, err error) {
	page := uintptr(os.Getpagesize())
	for m.end > m.start {
		last := make([]byte, page)
		if _, err := mem.ReadAt(last, int64(m.end-page)); err != nil {
			return mapped, fmt.Errorf("reading code at %#x: %w", m.end-page, err)
		}
		sum := sha256.Sum256(last)
		prefix := hex.EncodeToString(sum[:]) + "-"
		n, err := mapCandidate(dir, prefix, mem, m)
		if err != nil {
			return mapped, err
		}
		if n == 0 {
			if n, err = mapNew(dir, prefix, mem, m); err != nil {
				return mapped, err
			}
		}
		mapped = append(mapped, span{m.end - uintptr(n), m.end})
		m.end -= uintptr(n)
	}
	return mapped, nil
}

// mapCandidate maps over m's end the file in dir, named prefix and a
// length, whose end holds the same bytes as m's end, if there is one. It
// returns how many bytes of m it mapped (0: none).
func mapCandidate(dir, prefix string, mem *os.File, m span) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil // no directory yet: no candidates
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		// The common end: n bytes, at fileOff in the file.
		n := min(st.Size(), m.len())
		fileOff := st.Size() - n
		at := m.end - uintptr(n)
		if sameBytes(f, fileOff, io.NewSectionReader(mem, int64(at), n), n) {
			err := mapFixed(f, fileOff, span{at, m.end}, syscall.PROT_READ|syscall.PROT_EXEC)
			f.Close()
			return n, err
		}
		f.Close()
	}
	return 0, nil
}

// mapNew writes m's bytes to a new file in dir, named prefix and their
// length, and maps it over m (see mapFile).
func mapNew(dir, prefix string, mem *os.File, m span) (int64, error) {
	path := filepath.Join(dir, prefix+strconv.FormatInt(m.len(), 10))
	code := func() io.Reader { return io.NewSectionReader(mem, int64(m.start), m.len()) }
	return m.len(), mapFile(path, code, m, syscall.PROT_READ|syscall.PROT_EXEC)
}

// mapFile maps the file at path over s, with prot, private, once it has
// checked it holds the bytes content reads, which are s's. If there is no
// such file it writes one; if a process published one first, it maps that
// one; if the one there holds other bytes (damaged), it replaces it.
func mapFile(path string, content func() io.Reader, s span, prot int) error {
	if f, err := os.Open(path); err == nil {
		if sameBytes(f, 0, content(), s.len()) {
			defer f.Close()
			return mapFixed(f, 0, s, prot)
		}
		f.Close()
	}
	for _, replace := range []bool{false, true} {
		if err := writeShared(path, content(), replace); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		if sameBytes(f, 0, content(), s.len()) {
			defer f.Close()
			return mapFixed(f, 0, s, prot)
		}
		f.Close()
	}
	return fmt.Errorf("%s: differs from the bytes it was written from", path)
}

// mapFixed maps f from fileOff over the pages of s, with prot, private.
func mapFixed(f *os.File, fileOff int64, s span, prot int) error {
	addr, _, errno := syscall.Syscall6(syscall.SYS_MMAP, s.start, uintptr(s.len()),
		uintptr(prot), syscall.MAP_PRIVATE|syscall.MAP_FIXED, f.Fd(), uintptr(fileOff))
	if errno != 0 {
		// MAP_FIXED unmaps the old pages only once the new mapping is
		// made: on an error the bytes are where they were.
		return fmt.Errorf("mapping %s: %w", f.Name(), errno)
	}
	if addr != s.start {
		panic(fmt.Sprintf("mpmlab: %s mapped at %#x, not %#x", f.Name(), addr, s.start))
	}
	return nil
}

// writeShared writes content to a temporary file beside path and
// publishes it as path: by a hard link, which leaves a file another process
// published first in place, or, with replace, by a rename, which replaces
// it (the processes that map the old file keep it).
func writeShared(path string, content io.Reader, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp.Name(), path)
		} else if err = os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	os.Remove(tmp.Name())
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// sameBytes reports whether f holds, from off, the n bytes r reads.
func sameBytes(f *os.File, off int64, r io.Reader, n int64) bool {
	if st, err := f.Stat(); err != nil || st.Size() < off+n {
		return false
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for done := int64(0); done < n; {
		k := int(min(int64(len(a)), n-done))
		if _, err := io.ReadFull(r, a[:k]); err != nil {
			return false
		}
		if _, err := f.ReadAt(b[:k], off+done); err != nil {
			return false
		}
		if !bytes.Equal(a[:k], b[:k]) {
			return false
		}
		done += int64(k)
	}
	return true
}
