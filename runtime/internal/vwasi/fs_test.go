package vwasi

import (
	"encoding/binary"
	"strings"
	"testing"
)

// Addresses of the file-system tests, beside the fixture's.
const (
	pathAddr = 0x2000
	path2    = 0x2800
	statAddr = 0x3000
)

func newFSFixture(t *testing.T, files map[string]string, tmpLimit int64) *fixture {
	t.Helper()
	f := newFixture(t)
	m := map[string][]byte{}
	for name, data := range files {
		m[name] = []byte(data)
	}
	fsys, err := NewFS(m)
	if err != nil {
		t.Fatal(err)
	}
	f.conn.SetFS(fsys, tmpLimit)
	return f
}

// open calls path_open relative to the root and returns the errno and fd.
func (f *fixture) open(t *testing.T, p string, oflags uint16, write bool, fdflags uint16) (uint32, uint32) {
	t.Helper()
	f.write(t, pathAddr, []byte(p))
	rights := uint64(^uint64(0)) &^ rightFdWrite
	if write {
		rights = ^uint64(0)
	}
	errno := f.call(pathOpen, PreopenFD, 1, pathAddr, uint64(len(p)), uint64(oflags), rights, ^uint64(0), uint64(fdflags), resultAddr)
	return errno, f.u32(t, resultAddr)
}

func (f *fixture) pathCall(t *testing.T, fn func(*fixture, uint32) uint32, p string) uint32 {
	t.Helper()
	f.write(t, pathAddr, []byte(p))
	return fn(f, uint32(len(p)))
}

func (f *fixture) filestat(t *testing.T, fd uint32) (errno uint32, filetype byte, size uint64) {
	t.Helper()
	errno = f.call(fdFilestatGet, uint64(fd), statAddr)
	st := f.read(t, statAddr, 64)
	return errno, st[16], binary.LittleEndian.Uint64(st[32:])
}

func TestFSPreopen(t *testing.T) {
	// Without SetFS there is no file system: Go's scan stops at fd 3.
	f := newFixture(t)
	if errno := f.call(fdPrestatGet, 3, resultAddr); errno != errnoBadf {
		t.Fatalf("no FS: fd_prestat_get(3) = %d, want EBADF", errno)
	}
	f = newFSFixture(t, nil, 0)
	for fd := uint32(3); fd < PreopenFD; fd++ {
		if errno := f.call(fdPrestatGet, uint64(fd), resultAddr); errno != errnoNotdir {
			t.Errorf("fd_prestat_get(%d) = %d, want ENOTDIR (skipped by the scan)", fd, errno)
		}
	}
	if errno := f.call(fdPrestatGet, PreopenFD, resultAddr); errno != 0 || f.read(t, resultAddr, 1)[0] != 0 || f.u32(t, resultAddr+4) != 1 {
		t.Fatalf("fd_prestat_get(%d) = %d, %x", PreopenFD, errno, f.read(t, resultAddr, 8))
	}
	if errno := f.call(fdPrestatDirName, PreopenFD, pathAddr, 1); errno != 0 || string(f.read(t, pathAddr, 1)) != "/" {
		t.Fatalf("fd_prestat_dir_name: %d %q", errno, f.read(t, pathAddr, 1))
	}
	if errno := f.call(fdPrestatGet, PreopenFD+1, resultAddr); errno != errnoBadf {
		t.Fatalf("fd_prestat_get(%d) = %d, want EBADF (the end of the scan)", PreopenFD+1, errno)
	}
}

func TestFSRead(t *testing.T) {
	f := newFSFixture(t, map[string]string{"data.json": `{"a":1}`, "static/site.css": "body{}"}, 0)
	for _, p := range []string{"data.json", "/data.json", "./static/../data.json", "static/../../data.json"} {
		errno, fd := f.open(t, p, 0, false, 0)
		if errno != 0 {
			t.Fatalf("open %q: errno %d", p, errno)
		}
		if errno, n, got := f.readFD(t, fd, 3, 100); errno != 0 || n != 7 || string(got) != `{"a":1}` {
			t.Fatalf("read %q: errno %d n %d %q", p, errno, n, got)
		}
		if errno, n, _ := f.readFD(t, fd, 10); errno != 0 || n != 0 {
			t.Fatalf("read %q at EOF: errno %d n %d, want 0 0", p, errno, n)
		}
		if errno, typ, size := f.filestat(t, fd); errno != 0 || typ != filetypeRegularFile || size != 7 {
			t.Fatalf("filestat %q: %d type %d size %d", p, errno, typ, size)
		}
		// Seek back to 2 and read on.
		if errno := f.call(fdSeek, uint64(fd), 2, 0, resultAddr); errno != 0 {
			t.Fatalf("seek: %d", errno)
		}
		if _, _, got := f.readFD(t, fd, 100); string(got) != `a":1}` {
			t.Fatalf("read after seek: %q", got)
		}
		if errno := f.call(fdClose, uint64(fd)); errno != 0 {
			t.Fatalf("close: %d", errno)
		}
		if errno, _, _ := f.readFD(t, fd, 10); errno != errnoBadf {
			t.Fatalf("read after close: %d, want EBADF", errno)
		}
	}
	for _, tt := range []struct {
		p     string
		errno uint32
	}{
		{"missing.txt", errnoNoent},
		{"etc/passwd", errnoNoent},
		{"/etc/passwd", errnoNoent},
		{"data.json/x", errnoNotdir},
		{"", errnoNoent},
	} {
		if errno, _ := f.open(t, tt.p, 0, false, 0); errno != tt.errno {
			t.Errorf("open %q: errno %d, want %d", tt.p, errno, tt.errno)
		}
	}
	// path_filestat_get, and reading a directory.
	f.write(t, pathAddr, []byte("static"))
	if errno := f.call(pathFilestatGet, PreopenFD, 0, pathAddr, 6, statAddr); errno != 0 || f.read(t, statAddr, 64)[16] != filetypeDirectory {
		t.Fatalf("path_filestat_get static: %d %x", errno, f.read(t, statAddr, 64))
	}
	errno, fd := f.open(t, "static", oflagDirectory, false, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if errno, _, _ := f.readFD(t, fd, 10); errno != errnoIsdir {
		t.Fatalf("read of a directory: %d, want EISDIR", errno)
	}
}

// readdir lists fd's entries as Go's os package does: from cookie 0, a
// buffer at a time, resuming at the last whole entry's d_next.
func (f *fixture) readdir(t *testing.T, fd uint32, bufLen uint32) []string {
	t.Helper()
	var names []string
	cookie := uint64(0)
	for {
		if errno := f.call(fdReaddir, uint64(fd), bufAddr, uint64(bufLen), cookie, resultAddr); errno != 0 {
			t.Fatalf("fd_readdir: %d", errno)
		}
		n := f.u32(t, resultAddr)
		buf := f.read(t, bufAddr, n)
		whole := 0
		for len(buf) >= direntSize {
			l := binary.LittleEndian.Uint32(buf[16:])
			if uint32(len(buf)) < direntSize+l {
				break
			}
			names = append(names, string(buf[direntSize:direntSize+l]))
			cookie = binary.LittleEndian.Uint64(buf)
			buf = buf[direntSize+l:]
			whole++
		}
		if n < bufLen {
			return names
		}
		if whole == 0 {
			t.Fatalf("buffer of %d bytes holds no whole entry", bufLen)
		}
	}
}

func TestFSReaddir(t *testing.T) {
	f := newFSFixture(t, map[string]string{"b.txt": "b", "a.json": "a", "static/site.css": "c"}, 0)
	for _, size := range []uint32{4096, 40} { // 40: one entry per call, cut
		got := strings.Join(f.readdir(t, PreopenFD, size), " ")
		if want := ". .. a.json b.txt static tmp"; got != want {
			t.Errorf("root with a %d-byte buffer: %q, want %q", size, got, want)
		}
	}
	_, fd := f.open(t, "static", oflagDirectory, false, 0)
	if got := strings.Join(f.readdir(t, fd, 4096), " "); got != ". .. site.css" {
		t.Errorf("static: %q", got)
	}
	_, fd = f.open(t, "a.json", 0, false, 0)
	if errno := f.call(fdReaddir, uint64(fd), bufAddr, 100, 0, resultAddr); errno != errnoNotdir {
		t.Errorf("readdir of a file: %d, want ENOTDIR", errno)
	}
}

func TestFSWriteRefused(t *testing.T) {
	f := newFSFixture(t, map[string]string{"data.json": "{}", "static/site.css": "c"}, 0)
	for _, tt := range []struct {
		what   string
		p      string
		oflags uint16
		write  bool
		errno  uint32
	}{
		{"open for writing", "data.json", 0, true, errnoRofs},
		{"truncate", "data.json", oflagTrunc, false, errnoRofs},
		{"create at the root", "new.txt", oflagCreat, true, errnoRofs},
		{"create in a directory", "static/new.css", oflagCreat, true, errnoRofs},
		{"create exclusive", "data.json", oflagCreat | oflagExcl, true, errnoExist},
		{"a directory for writing", "static", 0, true, errnoIsdir},
	} {
		if errno, _ := f.open(t, tt.p, tt.oflags, tt.write, 0); errno != tt.errno {
			t.Errorf("%s %q: errno %d, want %d", tt.what, tt.p, errno, tt.errno)
		}
	}
	// A file opened for reading refuses writes; the content is unchanged.
	_, fd := f.open(t, "data.json", 0, false, 0)
	if errno, _ := f.writeFD(t, fd, []byte("x")); errno != errnoRofs {
		t.Errorf("write to a read-only file: %d, want EROFS", errno)
	}
	if errno := f.call(fdFilestatSetSize, uint64(fd), 0); errno != errnoRofs {
		t.Errorf("ftruncate: %d, want EROFS", errno)
	}
	calls := map[string]func(*fixture, uint32) uint32{
		"unlink": func(f *fixture, n uint32) uint32 { return f.call(pathUnlinkFile, PreopenFD, pathAddr, uint64(n)) },
		"rmdir":  func(f *fixture, n uint32) uint32 { return f.call(pathRemoveDirectory, PreopenFD, pathAddr, uint64(n)) },
		"mkdir":  func(f *fixture, n uint32) uint32 { return f.call(pathCreateDirectory, PreopenFD, pathAddr, uint64(n)) },
		"rename": func(f *fixture, n uint32) uint32 {
			f.write(t, path2, []byte("/tmp/x"))
			return f.call(pathRename, PreopenFD, pathAddr, uint64(n), PreopenFD, path2, 6)
		},
	}
	for what, p := range map[string]string{"unlink": "data.json", "rmdir": "static", "mkdir": "newdir", "rename": "data.json"} {
		if errno := f.pathCall(t, calls[what], p); errno != errnoRofs {
			t.Errorf("%s %q: %d, want EROFS", what, p, errno)
		}
	}
	if errno := f.call(pathSymlink, pathAddr, 1, PreopenFD, path2, 1); errno != errnoPerm {
		t.Errorf("symlink: %d, want EPERM", errno)
	}
	_, fd = f.open(t, "data.json", 0, false, 0)
	if _, _, got := f.readFD(t, fd, 10); string(got) != "{}" {
		t.Errorf("data.json after the refused writes: %q", got)
	}
}

func TestFSTmp(t *testing.T) {
	const limit = 1000
	f := newFSFixture(t, nil, limit)
	errno, fd := f.open(t, "/tmp/a.txt", oflagCreat|oflagTrunc, true, 0)
	if errno != 0 {
		t.Fatalf("create in /tmp: %d", errno)
	}
	if errno, n := f.writeFD(t, fd, []byte("hello, tmp"), 5); errno != 0 || n != 10 {
		t.Fatalf("write: %d %d", errno, n)
	}
	if f.conn.TmpUsed() != 10 {
		t.Fatalf("TmpUsed %d, want 10", f.conn.TmpUsed())
	}
	_, rfd := f.open(t, "tmp/a.txt", 0, false, 0)
	if _, _, got := f.readFD(t, rfd, 100); string(got) != "hello, tmp" {
		t.Fatalf("read back: %q", got)
	}
	// Append mode writes at the end wherever the offset is.
	_, afd := f.open(t, "/tmp/a.txt", 0, true, fdflagAppend)
	f.writeFD(t, afd, []byte("!"))
	if errno, _, size := f.filestat(t, afd); errno != 0 || size != 11 {
		t.Fatalf("size after append: %d %d", errno, size)
	}
	// A directory, and a file in it.
	if errno := f.pathCall(t, func(f *fixture, n uint32) uint32 { return f.call(pathCreateDirectory, PreopenFD, pathAddr, uint64(n)) }, "tmp/d"); errno != 0 {
		t.Fatalf("mkdir /tmp/d: %d", errno)
	}
	if errno, _ := f.open(t, "/tmp/d/b", oflagCreat, true, 0); errno != 0 {
		t.Fatalf("create /tmp/d/b: %d", errno)
	}
	_, dfd := f.open(t, "/tmp", oflagDirectory, false, 0)
	if got := strings.Join(f.readdir(t, dfd, 4096), " "); got != ". .. a.txt d" {
		t.Fatalf("readdir /tmp: %q", got)
	}
	// ENOSPC: a write past the limit fails whole and changes nothing.
	_, bfd := f.open(t, "/tmp/big", oflagCreat, true, 0)
	big := make([]byte, limit-11+1)
	if errno, _ := f.writeFD(t, bfd, big); errno != errnoNospc {
		t.Fatalf("write past the limit: %d, want ENOSPC", errno)
	}
	if f.conn.TmpUsed() != 11 {
		t.Fatalf("TmpUsed after the refused write: %d, want 11", f.conn.TmpUsed())
	}
	if errno, n := f.writeFD(t, bfd, big[1:]); errno != 0 || int(n) != len(big)-1 {
		t.Fatalf("write up to the limit: %d %d", errno, n)
	}
	if errno, _ := f.writeFD(t, bfd, []byte("x")); errno != errnoNospc {
		t.Fatalf("one byte past the limit: %d, want ENOSPC", errno)
	}
	// Removing gives the space back; a rename within /tmp keeps it.
	if errno := f.pathCall(t, func(f *fixture, n uint32) uint32 { return f.call(pathUnlinkFile, PreopenFD, pathAddr, uint64(n)) }, "tmp/big"); errno != 0 {
		t.Fatalf("unlink: %d", errno)
	}
	if f.conn.TmpUsed() != limit { // still open
		t.Fatalf("TmpUsed after unlink: %d, want %d", f.conn.TmpUsed(), limit)
	}
	f.call(fdClose, uint64(bfd))
	if f.conn.TmpUsed() != 11 {
		t.Fatalf("TmpUsed after unlink and close: %d, want 11", f.conn.TmpUsed())
	}
	f.write(t, path2, []byte("tmp/d/c.txt"))
	f.write(t, pathAddr, []byte("tmp/a.txt"))
	if errno := f.call(pathRename, PreopenFD, pathAddr, 9, PreopenFD, path2, 11); errno != 0 {
		t.Fatalf("rename: %d", errno)
	}
	if errno, _ := f.open(t, "tmp/a.txt", 0, false, 0); errno != errnoNoent {
		t.Fatalf("old name after rename: %d, want ENOENT", errno)
	}
	if errno := f.pathCall(t, func(f *fixture, n uint32) uint32 { return f.call(pathRemoveDirectory, PreopenFD, pathAddr, uint64(n)) }, "tmp/d"); errno != errnoNotempty {
		t.Fatalf("rmdir of a full directory: %d, want ENOTEMPTY", errno)
	}
	// Truncating past the limit fails too.
	_, cfd := f.open(t, "tmp/d/c.txt", 0, true, 0)
	if errno := f.call(fdFilestatSetSize, uint64(cfd), limit+1); errno != errnoFbig {
		t.Fatalf("ftruncate past the limit: %d, want EFBIG", errno)
	}
	// Another instance's /tmp is its own.
	g := newFSFixture(t, nil, limit)
	if errno, _ := g.open(t, "tmp/d/c.txt", 0, false, 0); errno != errnoNoent {
		t.Fatalf("another instance sees this one's /tmp: %d", errno)
	}
}

func TestNewFSRejects(t *testing.T) {
	for _, name := range []string{"", "/abs", "../up", "a/../b", "./a", "tmp/x", "a//b", "dir/"} {
		if _, err := NewFS(map[string][]byte{name: nil}); err == nil {
			t.Errorf("NewFS accepted %q", name)
		}
	}
	if _, err := NewFS(map[string][]byte{"a": nil, "a/b": nil}); err == nil {
		t.Error("NewFS accepted a file that is also a directory")
	}
}

// A /tmp file removed while open stays readable and writable through its
// fd, and on the books, until the fd closes (os.CreateTemp then os.Remove,
// an anonymous temp file).
func TestFSTmpUnlinkedWhileOpen(t *testing.T) {
	f := newFSFixture(t, map[string]string{"data.json": "{}"}, 100)
	_, fd := f.open(t, "/tmp/anon", oflagCreat, true, 0)
	f.writeFD(t, fd, []byte("0123456789"))
	unlink := func(f *fixture, n uint32) uint32 { return f.call(pathUnlinkFile, PreopenFD, pathAddr, uint64(n)) }
	if errno := f.pathCall(t, unlink, "tmp/anon"); errno != 0 {
		t.Fatalf("unlink: %d", errno)
	}
	if errno, _ := f.open(t, "/tmp/anon", 0, false, 0); errno != errnoNoent {
		t.Fatalf("open after unlink: %d, want ENOENT", errno)
	}
	f.writeFD(t, fd, []byte("ab"))
	f.call(fdSeek, uint64(fd), 0, 0, resultAddr)
	if _, _, got := f.readFD(t, fd, 100); string(got) != "0123456789ab" {
		t.Fatalf("read through the fd after unlink: %q", got)
	}
	if f.conn.TmpUsed() != 12 {
		t.Fatalf("TmpUsed while open: %d, want 12", f.conn.TmpUsed())
	}
	if errno := f.call(fdClose, uint64(fd)); errno != 0 {
		t.Fatal(errno)
	}
	if f.conn.TmpUsed() != 0 {
		t.Fatalf("TmpUsed after the last close: %d, want 0", f.conn.TmpUsed())
	}
	// The experiment's files, shared by every instance, keep no count.
	_, rfd := f.open(t, "data.json", 0, false, 0)
	f.call(fdClose, uint64(rfd))
	if n := f.conn.files.root.children["data.json"]; n.opens != 0 {
		t.Fatalf("a shared read-only node was written: opens %d", n.opens)
	}
}
