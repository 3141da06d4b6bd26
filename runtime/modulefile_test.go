package runtime

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A module file read once is known by its sum until the file changes: a
// Start after the playground's compile neither reads nor hashes it again,
// and a file written again (another size or modification time) is read.
func TestFileSum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guest.wasm")
	if err := os.WriteFile(path, emptyGuest, 0o644); err != nil {
		t.Fatal(err)
	}
	wasm, sum, err := ReadModule(path)
	if err != nil || string(wasm) != string(emptyGuest) || sum != sha256.Sum256(emptyGuest) {
		t.Fatalf("ReadModule = %d bytes, %x, %v; want the file's bytes and their SHA-256", len(wasm), sum, err)
	}

	// Other bytes of the same size and time: only a sum remembered says
	// the old one.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	other := append([]byte(nil), emptyGuest...)
	other[len(other)-1] ^= 0xff
	if err := os.WriteFile(path, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got, err := FileSum(path); err != nil || got != sum {
		t.Fatalf("FileSum of a file read before = %x, %v; want the sum remembered, %x", got, err, sum)
	}
	if got, wasm, err := SumOrRead(path); err != nil || got != sum || wasm != nil {
		t.Fatalf("SumOrRead of a file read before = %x, %d bytes, %v; want the sum remembered and no read", got, len(wasm), err)
	}

	// Written again (a new time): read again.
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got, wasm, err := SumOrRead(path); err != nil || got != sha256.Sum256(other) || string(wasm) != string(other) {
		t.Fatalf("SumOrRead of a file written again = %x, %d bytes, %v; want its new bytes and their sum", got, len(wasm), err)
	}
	if got, err := FileSum(path); err != nil || got != sha256.Sum256(other) {
		t.Fatalf("FileSum of the file read again = %x, %v; want the new sum remembered", got, err)
	}

	// Replaced by another file of the same size and time, as the builder
	// renames a new build into place: read again.
	replacement := filepath.Join(filepath.Dir(path), "new.wasm")
	if err := os.WriteFile(replacement, emptyGuest, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(replacement, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(replacement, path); err != nil {
		t.Fatal(err)
	}
	if got, err := FileSum(path); err != nil || got != sha256.Sum256(emptyGuest) {
		t.Fatalf("FileSum of a file renamed into place = %x, %v; want its bytes' sum", got, err)
	}
	if _, err := FileSum(filepath.Join(t.TempDir(), "missing.wasm")); err == nil {
		t.Fatal("FileSum of a missing file succeeded")
	}
}

// CachedFile and PackFile say and do what Cached and PackModule do of the
// file's bytes.
func TestCachedFileAndPackFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "hello.wasm")
	wasm := exampleWasm(t, "hello")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if cached, err := CachedFile(dir, path); err != nil || cached {
		t.Fatalf("CachedFile before any compile = %v, %v", cached, err)
	}
	packed, err := PackFile(dir, path)
	if err != nil || packed != PackedPath(dir, wasm) {
		t.Fatalf("PackFile = %q, %v; want %q", packed, err, PackedPath(dir, wasm))
	}
	if b, err := os.ReadFile(packed); err != nil || string(b) != string(packData(wasm)) {
		t.Fatalf("PackFile's file does not hold the module packed (%v)", err)
	}
	e, err := NewEngine(ctx, EngineConfig{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if _, err := e.Compile(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	if cached, err := CachedFile(dir, path); err != nil || !cached {
		t.Fatalf("CachedFile after a compile = %v, %v", cached, err)
	}
	if again, err := PackFile(dir, path); err != nil || again != packed {
		t.Fatalf("a second PackFile = %q, %v; want %q", again, err, packed)
	}
}
