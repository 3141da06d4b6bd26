package vwasi

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// FS is the read-only tree of files every instance of a guest sees at its
// root: an experiment's own files (data.json, index.html, main.go...). It is
// built once per worker process and shared by all its instances; nothing
// ever changes it.
//
//	fsys, err := vwasi.NewFS(map[string][]byte{"data.json": data, "static/a.css": css})
//	conn.SetFS(fsys, vwasi.DefaultTmpLimit)
//
// # Notes
//
//   - Inside the guest the root "/" is the one preopened directory (fd
//     PreopenFD) and the working directory, so os.ReadFile("data.json"),
//     os.ReadFile("/data.json") and http.Dir(".") all find the same file.
//   - Every instance also gets a directory /tmp of its own (os.TempDir in
//     the guest), in memory, writable, capped at the limit given to
//     Conn.SetFS: a write past it fails with ENOSPC ("no space left on
//     device"). What it holds is lost when the instance ends.
//   - Anything else that would change the tree (creating, writing,
//     truncating, removing, renaming outside /tmp) fails with EROFS
//     ("read-only file system"); links with EPERM. There is nothing of the
//     host's file system in it: /etc/passwd is ENOENT like any other name
//     the experiment does not have.
type FS struct {
	root *node
}

// Limits of the file system.
const (
	// DefaultTmpLimit is the most bytes the files under an instance's /tmp
	// may hold together.
	DefaultTmpLimit = 16 << 20
	// maxTmpNodes is the most files and directories /tmp may hold.
	maxTmpNodes = 4096
	// maxOpenFiles is the most files an instance may have open at once.
	maxOpenFiles = 1024
	// maxPathLen is the longest path a guest may pass.
	maxPathLen = 4096
	// TmpDir is the writable directory's path.
	TmpDir = "/tmp"
	// PreopenFD is the fd of the root directory, the one preopen: the
	// first fd after the virtual ones (Go's runtime scans for preopens
	// from fd 3 and stops at the first EBADF, so it cannot be further).
	PreopenFD = 6
)

// WASI errno values of the file system.
const (
	errnoAcces       = 2
	errnoExist       = 20
	errnoFbig        = 22
	errnoIsdir       = 31
	errnoMfile       = 33
	errnoNametoolong = 37
	errnoNoent       = 44
	errnoNospc       = 51
	errnoNotdir      = 54
	errnoNotempty    = 55
	errnoNotsup      = 58
	errnoPerm        = 63
	errnoRofs        = 69
	errnoSpipe       = 70
)

// WASI file types, open flags, fd flags and rights used here.
const (
	filetypeDirectory   = 3
	filetypeRegularFile = 4

	oflagCreat     = 1
	oflagDirectory = 2
	oflagExcl      = 4
	oflagTrunc     = 8

	fdflagAppend = 0x1

	rightFdWrite = 1 << 6
)

// node is a file or a directory. The nodes of an FS are shared by every
// instance and never change; nodes under /tmp (writable) belong to one.
type node struct {
	dir      bool
	data     []byte
	children map[string]*node
	writable bool
	ino      uint64
	mtime    int64 // nanoseconds since the epoch; 0 for the experiment's files

	// opens counts the fds open on a /tmp node; unlinked says it was
	// removed while open: its bytes stay on the books (and readable
	// through those fds, as on Linux) until the last one closes.
	opens    int
	unlinked bool
}

// NewFS returns the tree of files: names are slash-separated paths
// relative to the root ("data.json", "static/site.css"); the directories
// they name are made. A name that is not clean and relative, that names
// /tmp, or that is both a file and a directory is an error.
func NewFS(files map[string][]byte) (*FS, error) {
	root := &node{dir: true, children: map[string]*node{}, ino: 1}
	ino := uint64(1)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" || !utf8.ValidString(name) || path.Clean(name) != name || strings.HasPrefix(name, "/") || name == "." || strings.HasPrefix(name, "../") || name == ".." {
			return nil, fmt.Errorf("file %q: want a clean relative path", name)
		}
		parts := strings.Split(name, "/")
		if parts[0] == strings.TrimPrefix(TmpDir, "/") {
			return nil, fmt.Errorf("file %q: %s is each instance's own writable directory", name, TmpDir)
		}
		d := root
		for _, p := range parts[:len(parts)-1] {
			c := d.children[p]
			if c == nil {
				ino++
				c = &node{dir: true, children: map[string]*node{}, ino: ino}
				d.children[p] = c
			} else if !c.dir {
				return nil, fmt.Errorf("file %q: %s is a file", name, p)
			}
			d = c
		}
		last := parts[len(parts)-1]
		if d.children[last] != nil {
			return nil, fmt.Errorf("file %q: is also a directory", name)
		}
		ino++
		d.children[last] = &node{data: files[name], ino: ino}
	}
	return &FS{root: root}, nil
}

// SetFS gives the guest its file system: fsys at the root (nil: an empty
// one) and a /tmp of its own holding at most tmpLimit bytes
// (DefaultTmpLimit if zero). Call it before the guest starts. A Conn
// without SetFS has no file system at all: no preopen, every path EBADF.
func (c *Conn) SetFS(fsys *FS, tmpLimit int64) {
	if fsys == nil {
		fsys, _ = NewFS(nil)
	}
	if tmpLimit <= 0 {
		tmpLimit = DefaultTmpLimit
	}
	root := &node{dir: true, children: make(map[string]*node, len(fsys.root.children)+1), ino: 1}
	for name, n := range fsys.root.children {
		root.children[name] = n
	}
	root.children[strings.TrimPrefix(TmpDir, "/")] = &node{dir: true, children: map[string]*node{}, writable: true, ino: 1 << 32}
	c.files = &files{
		root:    root,
		fds:     map[uint32]*openFile{PreopenFD: {n: root, path: "/"}},
		nextFD:  PreopenFD + 1,
		limit:   tmpLimit,
		nextIno: 1<<32 + 1,
	}
}

// TmpUsed is the bytes the files under the guest's /tmp hold now.
func (c *Conn) TmpUsed() int64 {
	if c.files == nil {
		return 0
	}
	return c.files.used
}

// files is one instance's file system: its root, its open files, its /tmp.
// Only the guest's goroutine touches it, through the WASI functions.
type files struct {
	root    *node
	fds     map[uint32]*openFile
	nextFD  uint32
	used    int64 // bytes in /tmp's files
	nodes   int   // files and directories in /tmp
	limit   int64
	nextIno uint64
}

// openFile is an open fd: a file or a directory, and where it is.
type openFile struct {
	n      *node
	path   string // clean, absolute
	off    int64
	write  bool // opened for writing (only under /tmp)
	append bool
}

// now is the modification time of what the guest writes.
func now() int64 { return time.Now().UnixNano() }

// file returns the open fd, or EBADF.
func (fs *files) file(fd uint32) (*openFile, uint32) {
	if fs == nil {
		return nil, errnoBadf
	}
	f := fs.fds[fd]
	if f == nil {
		return nil, errnoBadf
	}
	return f, errnoSuccess
}

// resolve finds the node at p relative to the directory fd: the node (nil
// if the last element does not exist), its parent and its last element.
func (fs *files) resolve(fd uint32, p string) (n, parent *node, name, abs string, errno uint32) {
	d, errno := fs.file(fd)
	if errno != 0 {
		return nil, nil, "", "", errno
	}
	if !d.n.dir {
		return nil, nil, "", "", errnoNotdir
	}
	if len(p) > maxPathLen {
		return nil, nil, "", "", errnoNametoolong
	}
	if p == "" {
		return nil, nil, "", "", errnoNoent
	}
	abs = path.Join(d.path, p) // cleans, and stops ".." at the root
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs
	}
	if abs == "/" {
		return fs.root, nil, ".", abs, errnoSuccess
	}
	parts := strings.Split(abs[1:], "/")
	cur := fs.root
	for _, part := range parts[:len(parts)-1] {
		next := cur.children[part]
		switch {
		case next == nil:
			return nil, nil, "", "", errnoNoent
		case !next.dir:
			return nil, nil, "", "", errnoNotdir
		}
		cur = next
	}
	name = parts[len(parts)-1]
	if len(name) > 255 {
		return nil, nil, "", "", errnoNametoolong
	}
	return cur.children[name], cur, name, abs, errnoSuccess
}

// open is path_open.
func (fs *files) open(dirfd uint32, p string, oflags uint16, rights uint64, fdflags uint16) (uint32, uint32) {
	n, parent, name, abs, errno := fs.resolve(dirfd, p)
	if errno != 0 {
		return 0, errno
	}
	write := rights&rightFdWrite != 0 || oflags&oflagTrunc != 0
	switch {
	case n == nil && oflags&oflagCreat == 0:
		return 0, errnoNoent
	case n == nil && !parent.writable:
		return 0, errnoRofs
	case n == nil && oflags&oflagDirectory != 0:
		return 0, errnoNoent
	case n != nil && oflags&oflagCreat != 0 && oflags&oflagExcl != 0:
		return 0, errnoExist
	case n != nil && oflags&oflagDirectory != 0 && !n.dir:
		return 0, errnoNotdir
	case n != nil && n.dir && write:
		return 0, errnoIsdir
	case n != nil && write && !n.writable:
		return 0, errnoRofs
	}
	if len(fs.fds) >= maxOpenFiles {
		return 0, errnoMfile
	}
	if n == nil {
		if fs.nodes >= maxTmpNodes {
			return 0, errnoNospc
		}
		fs.nextIno++
		n = &node{writable: true, ino: fs.nextIno, mtime: now()}
		parent.children[name] = n
		parent.mtime = n.mtime
		fs.nodes++
	}
	if oflags&oflagTrunc != 0 && len(n.data) > 0 {
		fs.used -= int64(len(n.data))
		n.data = nil
		n.mtime = now()
	}
	fd := fs.nextFD
	for fs.fds[fd] != nil || fd <= PreopenFD {
		fd++
		if fd <= PreopenFD {
			fd = PreopenFD + 1
		}
	}
	fs.nextFD = fd + 1
	fs.fds[fd] = &openFile{n: n, path: abs, write: write, append: fdflags&fdflagAppend != 0}
	if n.writable { // the experiment's nodes are shared by instances: never written
		n.opens++
	}
	return fd, errnoSuccess
}

// readAt copies the file's bytes at off into bufs.
func readAt(n *node, off int64, bufs [][]byte) (int, uint32) {
	if n.dir {
		return 0, errnoIsdir
	}
	total := 0
	for _, b := range bufs {
		if off >= int64(len(n.data)) {
			break
		}
		k := copy(b, n.data[off:])
		off += int64(k)
		total += k
	}
	return total, errnoSuccess
}

// writeAt writes bufs into the file at off, growing it, within the limit.
func (fs *files) writeAt(f *openFile, off int64, bufs [][]byte) (int, uint32) {
	n := f.n
	switch {
	case n.dir:
		return 0, errnoIsdir
	case !n.writable:
		return 0, errnoRofs
	case !f.write:
		return 0, errnoBadf // opened read-only, as on Linux
	}
	size := 0
	for _, b := range bufs {
		size += len(b)
	}
	end := off + int64(size)
	if grow := end - int64(len(n.data)); grow > 0 {
		if fs.used+grow > fs.limit {
			return 0, errnoNospc
		}
		fs.used += grow
		if end > int64(cap(n.data)) {
			data := make([]byte, end, max(end, min(2*int64(cap(n.data)), fs.limit)))
			copy(data, n.data)
			n.data = data
		} else {
			n.data = n.data[:end]
		}
	}
	for _, b := range bufs {
		off += int64(copy(n.data[off:], b))
	}
	if size > 0 {
		n.mtime = now()
	}
	return size, errnoSuccess
}

// truncate is fd_filestat_set_size.
func (fs *files) truncate(f *openFile, size int64) uint32 {
	n := f.n
	switch {
	case n.dir:
		return errnoIsdir
	case !n.writable:
		return errnoRofs
	case !f.write:
		return errnoBadf
	case size < 0:
		return errnoInval
	}
	grow := size - int64(len(n.data))
	if grow > 0 && fs.used+grow > fs.limit {
		return errnoFbig
	}
	fs.used += grow
	if grow > 0 {
		n.data = append(n.data, make([]byte, grow)...)
	} else {
		n.data = n.data[:size:size]
	}
	n.mtime = now()
	return errnoSuccess
}

// mkdir is path_create_directory.
func (fs *files) mkdir(dirfd uint32, p string) uint32 {
	n, parent, name, _, errno := fs.resolve(dirfd, p)
	switch {
	case errno != 0:
		return errno
	case n != nil:
		return errnoExist
	case !parent.writable:
		return errnoRofs
	case fs.nodes >= maxTmpNodes:
		return errnoNospc
	}
	fs.nextIno++
	parent.children[name] = &node{dir: true, children: map[string]*node{}, writable: true, ino: fs.nextIno, mtime: now()}
	fs.nodes++
	return errnoSuccess
}

// remove is path_unlink_file (dir false) and path_remove_directory.
func (fs *files) remove(dirfd uint32, p string, dir bool) uint32 {
	n, parent, name, _, errno := fs.resolve(dirfd, p)
	switch {
	case errno != 0:
		return errno
	case n == nil:
		return errnoNoent
	case parent == nil || !parent.writable || !n.writable:
		return errnoRofs
	case dir && !n.dir:
		return errnoNotdir
	case !dir && n.dir:
		return errnoIsdir
	case dir && len(n.children) > 0:
		return errnoNotempty
	}
	delete(parent.children, name)
	fs.unlink(n)
	return errnoSuccess
}

// unlink takes n, removed from its directory, off the books, or marks it
// to be once its last fd closes.
func (fs *files) unlink(n *node) {
	fs.nodes--
	if n.opens > 0 {
		n.unlinked = true
		return
	}
	fs.used -= int64(len(n.data))
	n.data = nil
}

// closed is told that an fd on n closed.
func (fs *files) closed(n *node) {
	if !n.writable {
		return
	}
	n.opens--
	if n.opens == 0 && n.unlinked {
		fs.used -= int64(len(n.data))
		n.data = nil
	}
}

// rename is path_rename, within /tmp.
func (fs *files) rename(oldfd uint32, oldp string, newfd uint32, newp string) uint32 {
	n, oldParent, oldName, oldAbs, errno := fs.resolve(oldfd, oldp)
	if errno != 0 {
		return errno
	}
	m, newParent, newName, newAbs, errno := fs.resolve(newfd, newp)
	switch {
	case errno != 0:
		return errno
	case n == nil:
		return errnoNoent
	case oldParent == nil || newParent == nil || !oldParent.writable || !newParent.writable || !n.writable:
		return errnoRofs
	case oldAbs == newAbs:
		return errnoSuccess
	case n.dir && strings.HasPrefix(newAbs, oldAbs+"/"):
		return errnoInval
	case m != nil && m.dir && !n.dir:
		return errnoIsdir
	case m != nil && !m.dir && n.dir:
		return errnoNotdir
	case m != nil && m.dir && len(m.children) > 0:
		return errnoNotempty
	}
	if m != nil {
		fs.unlink(m)
	}
	delete(oldParent.children, oldName)
	newParent.children[newName] = n
	return errnoSuccess
}

// dirEntry is one entry fd_readdir lists.
type dirEntry struct {
	name string
	n    *node
}

// entries lists a directory as fd_readdir does: ".", "..", then the
// children by name. A cookie is an index in this list.
func entries(d *node) []dirEntry {
	list := []dirEntry{{".", d}, {"..", d}}
	names := make([]string, 0, len(d.children))
	for name := range d.children {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		list = append(list, dirEntry{name, d.children[name]})
	}
	return list
}

func filetypeOf(n *node) byte {
	if n.dir {
		return filetypeDirectory
	}
	return filetypeRegularFile
}
