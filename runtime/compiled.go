package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Cached reports whether Engine.Compile of wasm will load machine code from
// the compilation cache instead of compiling it: whether an engine on the
// optimizing compiler with this EngineConfig.CacheDir has compiled these
// bytes before. It answers from a record mpmlab
// keeps beside wazero's cache (wazero offers no way to ask), in the
// time it takes to hash the module (milliseconds), so a caller can decide whether to wait for Compile or to
// serve on the interpreter meanwhile (see models.Config.ServeWhileCompiling).
//
// # Notes
//
//   - The record is written by Compile after wazero has stored the machine
//     code, and names the wazero version, GOOS and GOARCH as wazero's own
//     cache directory does, so a new wazero starts a new record.
//   - If wazero's files are deleted but the record is not, Cached says true
//     and Compile compiles: slower than expected, never wrong.
func Cached(cacheDir string, wasm []byte) bool {
	return CachedSum(cacheDir, sha256.Sum256(wasm))
}

// CachedSum is Cached of the module whose SHA-256 is sum.
func CachedSum(cacheDir string, sum [sha256.Size]byte) bool {
	if cacheDir == "" {
		cacheDir = defaultEngineCacheDir()
	}
	return exists(compiledRecord(cacheDir, sum))
}

// markCompiled writes the record Cached looks for.
func (e *Engine) markCompiled(wasm []byte) {
	path := compiledRecord(e.cacheDir, sha256.Sum256(wasm))
	if _, err := os.Stat(path); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		os.WriteFile(path, nil, 0o644) // a record that fails to appear costs a compile, not a wrong answer
	}
}

// compiledRecord is the record's path: CacheDir/mpmlab-compiled-<wazero
// version>-<GOARCH>-<GOOS>-<recordVersion>/<SHA-256 of the module>, named
// like the directory wazero keeps its machine code in.
func compiledRecord(cacheDir string, sum [sha256.Size]byte) string {
	dir := "mpmlab-compiled-" + wazeroVersion() + "-" + goruntime.GOARCH + "-" + goruntime.GOOS + "-" + recordVersion
	return filepath.Join(cacheDir, dir, hex.EncodeToString(sum[:]))
}

// recordVersion changes when the bytes Compile hands wazero change for the
// same module (packData), so that a record of the old bytes' compile does
// not say a compile of the new ones is cached.
const recordVersion = "2"

// wazeroVersion is the wazero version this binary was built with, found as
// wazero finds it (its internal/version): "dev" when the build has none.
var wazeroVersion = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, dep := range info.Deps {
		if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") && dep.Version != "" && dep.Version != "(devel)" {
			return dep.Version
		}
	}
	return "dev"
})
