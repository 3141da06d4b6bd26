package runtime

import (
	"os"
	"path/filepath"
)

// DefaultCacheDir is where mpmlab keeps built .wasm files, the SDK copy
// and wazero's compilation cache: $MPMLAB_CACHE if set, else
// os.UserCacheDir()/mpmlab, else a directory under os.TempDir().
func DefaultCacheDir() string {
	if d := os.Getenv("MPMLAB_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mpmlab")
	}
	return filepath.Join(os.TempDir(), "mpmlab-cache")
}
