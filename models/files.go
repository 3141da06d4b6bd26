package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// writeFiles stores an experiment's files (Config.Files) for the
// worker processes, which read them with readFiles, and returns the path
// ("" for none). The file is named by its content's hash under
// cacheDir/files and written once: the workers of every run of the same
// files read the same file, and it is never rewritten under them.
func writeFiles(cacheDir string, files []experiment.File) (string, error) {
	if len(files) == 0 {
		return "", nil
	}
	data, err := json.Marshal(files)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(cacheDir, "files")
	path := filepath.Join(dir, hex.EncodeToString(sum[:])+".json")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("data files: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".files-*")
	if err != nil {
		return "", fmt.Errorf("data files: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("data files: %w", err)
	}
	return path, nil
}

// readFiles reads what writeFiles stored into the file system every guest
// instance of the worker process shares (nil for none).
func readFiles(path string) (*runtime.Files, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data files: %w", err)
	}
	var files []experiment.File
	if err := json.Unmarshal(data, &files); err != nil {
		return nil, fmt.Errorf("data files %s: %w", path, err)
	}
	m := make(map[string][]byte, len(files))
	for _, f := range files {
		m[f.Name] = []byte(f.Data)
	}
	return runtime.NewFiles(m)
}
