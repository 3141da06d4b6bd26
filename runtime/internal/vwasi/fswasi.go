package vwasi

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// This file is the WASI face of the file system (fs.go): the functions Go's
// wasip1 syscall package imports for files, each decoding its arguments
// from the guest's memory and calling the files of the instance's Conn.
// fd_read, fd_write, fd_fdstat_get, fd_fdstat_set_flags and fd_close reach
// it for any fd above the virtual ones (vwasi.go).

// exportFS adds the file-system functions to b.
func exportFS(b wazero.HostModuleBuilder) {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	export := func(name string, fn api.GoModuleFunc, params ...api.ValueType) {
		b.NewFunctionBuilder().
			WithGoModuleFunction(fn, params, []api.ValueType{i32}).
			WithResultNames("errno").
			Export(name)
	}
	export("fd_prestat_get", fdPrestatGet, i32, i32)
	export("fd_prestat_dir_name", fdPrestatDirName, i32, i32, i32)
	export("path_open", pathOpen, i32, i32, i32, i32, i32, i64, i64, i32, i32)
	export("fd_pread", fdPread, i32, i32, i32, i64, i32)
	export("fd_pwrite", fdPwrite, i32, i32, i32, i64, i32)
	export("fd_seek", fdSeek, i32, i64, i32, i32)
	export("fd_tell", fdTell, i32, i32)
	export("fd_filestat_get", fdFilestatGet, i32, i32)
	export("fd_filestat_set_size", fdFilestatSetSize, i32, i64)
	export("fd_filestat_set_times", fdFilestatSetTimes, i32, i64, i64, i32)
	export("fd_readdir", fdReaddir, i32, i32, i32, i64, i32)
	export("fd_sync", fdSync, i32)
	export("fd_datasync", fdSync, i32)
	export("fd_advise", fdAdvise, i32, i64, i64, i32)
	export("fd_allocate", fdAllocate, i32, i64, i64)
	export("fd_fdstat_set_rights", fdFdstatSetRights, i32, i64, i64)
	export("path_filestat_get", pathFilestatGet, i32, i32, i32, i32, i32)
	export("path_filestat_set_times", pathFilestatSetTimes, i32, i32, i32, i32, i64, i64, i32)
	export("path_create_directory", pathCreateDirectory, i32, i32, i32)
	export("path_remove_directory", pathRemoveDirectory, i32, i32, i32)
	export("path_unlink_file", pathUnlinkFile, i32, i32, i32)
	export("path_rename", pathRename, i32, i32, i32, i32, i32, i32)
	export("path_readlink", pathReadlink, i32, i32, i32, i32, i32, i32)
	export("path_symlink", pathSymlink, i32, i32, i32, i32, i32)
	export("path_link", pathLink, i32, i32, i32, i32, i32, i32, i32)
}

func filesOf(ctx context.Context) *files {
	if c := connOf(ctx); c != nil {
		return c.files
	}
	return nil
}

// iovecs returns the guest buffers of an iovec array.
func iovecs(mem api.Memory, iovs, n uint32) ([][]byte, bool) {
	bufs := make([][]byte, 0, n)
	for i := uint32(0); i < n; i++ {
		ptr, ok1 := mem.ReadUint32Le(iovs + i*8)
		l, ok2 := mem.ReadUint32Le(iovs + i*8 + 4)
		buf, ok3 := mem.Read(ptr, l)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		bufs = append(bufs, buf)
	}
	return bufs, true
}

func readPath(mem api.Memory, ptr, n uint32) (string, uint32) {
	if n > maxPathLen {
		return "", errnoNametoolong
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return "", errnoFault
	}
	return string(b), errnoSuccess
}

// fdReadFile is fd_read of an open file (vwasi.go's fdRead for other fds).
func (fs *files) fdRead(mem api.Memory, fd, iovs, iovsLen, resultN uint32) uint64 {
	f, errno := fs.file(fd)
	if errno != 0 {
		return uint64(errno)
	}
	bufs, ok := iovecs(mem, iovs, iovsLen)
	if !ok {
		return errnoFault
	}
	n, errno := readAt(f.n, f.off, bufs)
	if errno != 0 {
		return uint64(errno)
	}
	f.off += int64(n)
	return errnoResult(mem.WriteUint32Le(resultN, uint32(n)))
}

// fdWrite is fd_write of an open file.
func (fs *files) fdWrite(mem api.Memory, fd, iovs, iovsLen, resultN uint32) uint64 {
	f, errno := fs.file(fd)
	if errno != 0 {
		return uint64(errno)
	}
	bufs, ok := iovecs(mem, iovs, iovsLen)
	if !ok {
		return errnoFault
	}
	off := f.off
	if f.append {
		off = int64(len(f.n.data))
	}
	n, errno := fs.writeAt(f, off, bufs)
	if errno != 0 {
		return uint64(errno)
	}
	f.off = off + int64(n)
	return errnoResult(mem.WriteUint32Le(resultN, uint32(n)))
}

// fdstat writes an open file's fdstat.
func (fs *files) fdstat(mem api.Memory, fd, result uint32) uint64 {
	f, errno := fs.file(fd)
	if errno != 0 {
		return uint64(errno)
	}
	var stat [24]byte
	stat[0] = filetypeOf(f.n)
	if f.append {
		binary.LittleEndian.PutUint16(stat[2:], fdflagAppend)
	}
	binary.LittleEndian.PutUint64(stat[8:], ^uint64(0))
	binary.LittleEndian.PutUint64(stat[16:], ^uint64(0))
	return errnoResult(mem.Write(result, stat[:]))
}

// close is fd_close of an open file; the preopen stays.
func (fs *files) close(fd uint32) uint64 {
	f, errno := fs.file(fd)
	if errno != 0 || fd == PreopenFD {
		return uint64(errno)
	}
	delete(fs.fds, fd)
	fs.closed(f.n)
	return errnoSuccess
}

var fdPrestatGet = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, result := uint32(stack[0]), uint32(stack[1])
	fs := filesOf(ctx)
	switch {
	case fs != nil && fd == PreopenFD:
		var b [8]byte // tag u8 @0 (0: a directory), name length u32 @4
		binary.LittleEndian.PutUint32(b[4:], 1)
		stack[0] = errnoResult(mod.Memory().Write(result, b[:]))
	case fs != nil && fd < PreopenFD && fd > 2:
		stack[0] = errnoNotdir // the virtual fds: Go's scan goes on past them
	default:
		stack[0] = errnoBadf
	}
})

var fdPrestatDirName = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	switch {
	case filesOf(ctx) == nil || fd != PreopenFD:
		stack[0] = errnoBadf
	case n < 1:
		stack[0] = errnoNametoolong
	default:
		stack[0] = errnoResult(mod.Memory().Write(ptr, []byte("/")))
	}
})

var pathOpen = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	dirfd, pathPtr, pathLen := uint32(stack[0]), uint32(stack[2]), uint32(stack[3])
	oflags, rights, fdflags, result := uint16(stack[4]), stack[5], uint16(stack[7]), uint32(stack[8])
	fs := filesOf(ctx)
	if fs == nil {
		stack[0] = errnoBadf
		return
	}
	p, errno := readPath(mod.Memory(), pathPtr, pathLen)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	fd, errno := fs.open(dirfd, p, oflags, rights, fdflags)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	if !mod.Memory().WriteUint32Le(result, fd) {
		fs.close(fd)
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
})

var fdPread = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, iovs, iovsLen, off, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), int64(stack[3]), uint32(stack[4])
	f, errno := filesOf(ctx).file(fd)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	bufs, ok := iovecs(mod.Memory(), iovs, iovsLen)
	if !ok || off < 0 {
		stack[0] = errnoFault
		return
	}
	n, errno := readAt(f.n, off, bufs)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoResult(mod.Memory().WriteUint32Le(resultN, uint32(n)))
})

var fdPwrite = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, iovs, iovsLen, off, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), int64(stack[3]), uint32(stack[4])
	fs := filesOf(ctx)
	f, errno := fs.file(fd)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	bufs, ok := iovecs(mod.Memory(), iovs, iovsLen)
	if !ok || off < 0 {
		stack[0] = errnoFault
		return
	}
	n, errno := fs.writeAt(f, off, bufs)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoResult(mod.Memory().WriteUint32Le(resultN, uint32(n)))
})

var fdSeek = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, off, whence, result := uint32(stack[0]), int64(stack[1]), uint32(stack[2]), uint32(stack[3])
	f, errno := filesOf(ctx).file(fd)
	if errno != 0 {
		if fd <= 2 || isOurs(fd) {
			errno = errnoSpipe
		}
		stack[0] = uint64(errno)
		return
	}
	switch whence { // a directory's offset is kept and means nothing, as on Linux
	case 0:
	case 1:
		off += f.off
	case 2:
		off += int64(len(f.n.data))
	default:
		stack[0] = errnoInval
		return
	}
	if off < 0 {
		stack[0] = errnoInval
		return
	}
	f.off = off
	stack[0] = errnoResult(mod.Memory().WriteUint64Le(result, uint64(off)))
})

var fdTell = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, result := uint32(stack[0]), uint32(stack[1])
	f, errno := filesOf(ctx).file(fd)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoResult(mod.Memory().WriteUint64Le(result, uint64(f.off)))
})

// filestat is the 64-byte WASI filestat of n.
func filestat(n *node) []byte {
	var b [64]byte // dev @0, ino @8, filetype @16, nlink @24, size @32, atim @40, mtim @48, ctim @56
	binary.LittleEndian.PutUint64(b[8:], n.ino)
	b[16] = filetypeOf(n)
	binary.LittleEndian.PutUint64(b[24:], 1)
	if !n.dir {
		binary.LittleEndian.PutUint64(b[32:], uint64(len(n.data)))
	}
	for _, at := range []int{40, 48, 56} {
		binary.LittleEndian.PutUint64(b[at:], uint64(n.mtime))
	}
	return b[:]
}

var fdFilestatGet = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, result := uint32(stack[0]), uint32(stack[1])
	if isOurs(fd) {
		var b [64]byte
		b[16] = filetypeCharacterDevice
		stack[0] = errnoResult(mod.Memory().Write(result, b[:]))
		return
	}
	f, errno := filesOf(ctx).file(fd)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoResult(mod.Memory().Write(result, filestat(f.n)))
})

var fdFilestatSetSize = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, size := uint32(stack[0]), int64(stack[1])
	fs := filesOf(ctx)
	f, errno := fs.file(fd)
	if errno == 0 {
		errno = fs.truncate(f, size)
	}
	stack[0] = uint64(errno)
})

var fdFilestatSetTimes = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	f, errno := filesOf(ctx).file(uint32(stack[0]))
	if errno == 0 {
		errno = setTimes(f.n, int64(stack[2]), uint32(stack[3]))
	}
	stack[0] = uint64(errno)
})

// setTimes sets a /tmp node's mtime (fstflags: MTIM 0x4, MTIM_NOW 0x8).
func setTimes(n *node, mtim int64, fstflags uint32) uint32 {
	if !n.writable {
		return errnoRofs
	}
	switch {
	case fstflags&0x8 != 0:
		n.mtime = now()
	case fstflags&0x4 != 0:
		n.mtime = mtim
	}
	return errnoSuccess
}

const direntSize = 24 // d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20

var fdReaddir = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fd, buf, bufLen, cookie, resultN := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), stack[3], uint32(stack[4])
	f, errno := filesOf(ctx).file(fd)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	if !f.n.dir {
		stack[0] = errnoNotdir
		return
	}
	out, ok := mod.Memory().Read(buf, bufLen)
	if !ok {
		stack[0] = errnoFault
		return
	}
	list := entries(f.n)
	if cookie > uint64(len(list)) {
		stack[0] = errnoInval
		return
	}
	// Entries are written one after the other; the last one is cut
	// where the buffer ends, which tells the guest to read on from it.
	var n uint32
	for i := int(cookie); i < len(list) && n < bufLen; i++ {
		var d [direntSize]byte
		binary.LittleEndian.PutUint64(d[0:], uint64(i+1))
		binary.LittleEndian.PutUint64(d[8:], list[i].n.ino)
		binary.LittleEndian.PutUint32(d[16:], uint32(len(list[i].name)))
		d[20] = filetypeOf(list[i].n)
		n += uint32(copy(out[n:], d[:]))
		n += uint32(copy(out[n:], list[i].name))
	}
	stack[0] = errnoResult(mod.Memory().WriteUint32Le(resultN, n))
})

var fdSync = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	_, errno := filesOf(ctx).file(uint32(stack[0]))
	stack[0] = uint64(errno)
})

var fdAdvise = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	_, errno := filesOf(ctx).file(uint32(stack[0]))
	stack[0] = uint64(errno)
})

var fdAllocate = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs := filesOf(ctx)
	f, errno := fs.file(uint32(stack[0]))
	if errno == 0 {
		if end := int64(stack[1]) + int64(stack[2]); end > int64(len(f.n.data)) {
			errno = fs.truncate(f, end)
		}
	}
	stack[0] = uint64(errno)
})

var fdFdstatSetRights = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	if isOurs(uint32(stack[0])) {
		stack[0] = errnoSuccess
		return
	}
	_, errno := filesOf(ctx).file(uint32(stack[0]))
	stack[0] = uint64(errno)
})

// pathArgs reads the (fd, path, path_len) arguments at stack[at:].
func pathArgs(ctx context.Context, mod api.Module, stack []uint64, at int) (*files, uint32, string, uint32) {
	fs := filesOf(ctx)
	if fs == nil {
		return nil, 0, "", errnoBadf
	}
	p, errno := readPath(mod.Memory(), uint32(stack[at+1]), uint32(stack[at+2]))
	return fs, uint32(stack[at]), p, errno
}

// flaggedPathNode resolves the (fd, flags, path, path_len) arguments of
// the path_filestat functions to the node they name.
func flaggedPathNode(ctx context.Context, mod api.Module, stack []uint64) (*node, uint32) {
	fs := filesOf(ctx)
	if fs == nil {
		return nil, errnoBadf
	}
	p, errno := readPath(mod.Memory(), uint32(stack[2]), uint32(stack[3]))
	if errno != 0 {
		return nil, errno
	}
	n, _, _, _, errno := fs.resolve(uint32(stack[0]), p)
	if errno == 0 && n == nil {
		errno = errnoNoent
	}
	return n, errno
}

var pathFilestatGet = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	// fd, flags, path, path_len, result
	n, errno := flaggedPathNode(ctx, mod, stack)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	stack[0] = errnoResult(mod.Memory().Write(uint32(stack[4]), filestat(n)))
})

var pathFilestatSetTimes = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	// fd, flags, path, path_len, atim, mtim, fstflags
	n, errno := flaggedPathNode(ctx, mod, stack)
	if errno == 0 {
		errno = setTimes(n, int64(stack[5]), uint32(stack[6]))
	}
	stack[0] = uint64(errno)
})

var pathCreateDirectory = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs, fd, p, errno := pathArgs(ctx, mod, stack, 0)
	if errno == 0 {
		errno = fs.mkdir(fd, p)
	}
	stack[0] = uint64(errno)
})

var pathRemoveDirectory = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs, fd, p, errno := pathArgs(ctx, mod, stack, 0)
	if errno == 0 {
		errno = fs.remove(fd, p, true)
	}
	stack[0] = uint64(errno)
})

var pathUnlinkFile = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs, fd, p, errno := pathArgs(ctx, mod, stack, 0)
	if errno == 0 {
		errno = fs.remove(fd, p, false)
	}
	stack[0] = uint64(errno)
})

var pathRename = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs, oldfd, oldp, errno := pathArgs(ctx, mod, stack, 0)
	if errno != 0 {
		stack[0] = uint64(errno)
		return
	}
	_, newfd, newp, errno := pathArgs(ctx, mod, stack, 3)
	if errno == 0 {
		errno = fs.rename(oldfd, oldp, newfd, newp)
	}
	stack[0] = uint64(errno)
})

var pathReadlink = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	fs, fd, p, errno := pathArgs(ctx, mod, stack, 0)
	if errno == 0 {
		n, _, _, _, e := fs.resolve(fd, p)
		switch {
		case e != 0:
			errno = e
		case n == nil:
			errno = errnoNoent
		default:
			errno = errnoInval // there are no symbolic links
		}
	}
	stack[0] = uint64(errno)
})

var pathSymlink = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	stack[0] = errnoPerm
})

var pathLink = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
	stack[0] = errnoPerm
})
