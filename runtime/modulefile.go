package runtime

import (
	"crypto/sha256"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A module is known to the caches by the SHA-256 of its bytes: the
// record Cached reads, the packed module (PackModule) and wazero's own
// cache. Hashing a 6 MB module takes milliseconds, and reading it into
// fresh memory more: a Start of a module the playground has just built
// and compiled did both twice, a fifth of its time to the first answer.
// So the sum of a module file is remembered for the life of the process.

// moduleSums holds the SHA-256 of each module file read by ReadModule,
// by fileKey: a hundred bytes or so for each, forgotten all at once past
// maxModuleSums (a playground makes a module file per edit).
var (
	moduleSums  sync.Map
	moduleCount atomic.Int64
)

const maxModuleSums = 4096

// fileKey is a file as it was when it was hashed: a file written again
// has another size or modification time, and one replaced (the builder
// writes a new file and renames it over the old) is another file
// (os.SameFile, rememberedSum.file); either is read again.
type fileKey struct {
	path  string
	size  int64
	mtime time.Time
}

func keyOf(path string, fi os.FileInfo) fileKey {
	return fileKey{path: path, size: fi.Size(), mtime: fi.ModTime()}
}

type rememberedSum struct {
	sum  [sha256.Size]byte
	file os.FileInfo
}

// ReadModule reads the module in the file at path and returns its bytes and
// their SHA-256, which FileSum then knows without reading the file again.
func ReadModule(path string) ([]byte, [sha256.Size]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	sum := sha256.Sum256(wasm)
	if after, err := os.Stat(path); err == nil && keyOf(path, after) == keyOf(path, fi) && os.SameFile(after, fi) {
		remember(keyOf(path, fi), rememberedSum{sum, fi}) // not written meanwhile
	}
	return wasm, sum, nil
}

func remember(k fileKey, r rememberedSum) {
	if moduleCount.Add(1) > maxModuleSums {
		moduleSums.Clear()
		moduleCount.Store(1)
	}
	moduleSums.Store(k, r)
}

// FileSum is the SHA-256 of the module in the file at path: remembered
// from an earlier ReadModule of the same file, else read.
func FileSum(path string) ([sha256.Size]byte, error) {
	sum, _, err := SumOrRead(path)
	return sum, err
}

// SumOrRead is FileSum, and the module's bytes when it had to read them
// (nil when the sum was remembered), so that a caller that needs them too
// reads the file once.
func SumOrRead(path string) ([sha256.Size]byte, []byte, error) {
	if fi, err := os.Stat(path); err == nil {
		if r, ok := moduleSums.Load(keyOf(path, fi)); ok && os.SameFile(r.(rememberedSum).file, fi) {
			return r.(rememberedSum).sum, nil, nil
		}
	}
	wasm, sum, err := ReadModule(path)
	return sum, wasm, err
}

// CachedFile is Cached of the module in the file at path.
func CachedFile(cacheDir, path string) (bool, error) {
	sum, err := FileSum(path)
	if err != nil {
		return false, err
	}
	return CachedSum(cacheDir, sum), nil
}

// PackFile is PackModule of the module in the file at path; it reads the
// file only if its sum is not known (FileSum) or the packed module is not
// there yet.
func PackFile(cacheDir, path string) (string, error) {
	sum, err := FileSum(path)
	if err != nil {
		return "", err
	}
	if packed := packedPathOf(cacheDir, sum); exists(packed) {
		return packed, nil
	}
	wasm, _, err := ReadModule(path)
	if err != nil {
		return "", err
	}
	return PackModule(cacheDir, wasm)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
