package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// dataModule is a module with one memory of a page, exported as "memory",
// and segs as its data section: segs[i] is a segment's flags, offset
// expression and bytes, already encoded.
func dataModule(segs ...[]byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = appendSection(m, 5, []byte{1, 0x00, 1})                                      // memory: 1 page
	m = appendSection(m, 7, append([]byte{1, 6}, append([]byte("memory"), 2, 0)...)) // export it
	body := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		body = append(body, s...)
	}
	return appendSection(m, sectionData, body)
}

// active is an active segment of memory 0 at offset.
func active(offset int64, data string) []byte {
	b := appendSLEB128([]byte{segmentActive0, opI32Const}, offset)
	b = append(b, opEnd)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// memoryAfter instantiates wasm with wazero and returns its first memory
// page.
func memoryAfter(t testing.TB, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	b, ok := mod.Memory().Read(0, 1<<16)
	if !ok {
		t.Fatal("no memory")
	}
	return bytes.Clone(b)
}

func segmentCount(t testing.TB, wasm []byte) int {
	t.Helper()
	for p := 8; p < len(wasm); {
		size, n := binary.Uvarint(wasm[p+1:])
		if wasm[p] == sectionData {
			segs, err := readDataSegments(wasm[p+1+n : p+1+n+int(size)])
			if err != nil {
				t.Fatal(err)
			}
			return len(segs)
		}
		p += 1 + n + int(size)
	}
	return 0
}

// Segments less than a page apart merge, in any order, and memory holds
// the same bytes after instantiation; what packData does not expect it
// leaves alone.
func TestPackData(t *testing.T) {
	gap := string(make([]byte, maxDataGap+1))
	for _, c := range []struct {
		name     string
		wasm     []byte
		segments int // after packing; 0: left alone
	}{
		{"adjacent", dataModule(active(0, "ab"), active(2, "cd")), 1},
		{"gaps", dataModule(active(16, "go"), active(40, "wasm"), active(3, "x")), 1},
		{"a page apart", dataModule(active(0, "a"), active(int64(1+len(gap)), "b"), active(int64(2+len(gap)), "c")), 2},
		{"offsets over 63", dataModule(active(64, "a"), active(8192, "b"), active(8200, "c")), 2},
		{"one segment", dataModule(active(5, "abc")), 0},
		{"overlap", dataModule(active(0, "abcd"), active(2, "xy")), 0},
		{"passive", dataModule(active(0, "a"), append([]byte{1, 1}, 'p')), 0},
		{"global offset", dataModule(active(0, "a"), []byte{0, 0x23, 0, opEnd, 1, 'g'}), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			packed := packData(c.wasm)
			if c.segments == 0 {
				if !bytes.Equal(packed, c.wasm) {
					t.Fatal("packed, want the module left alone")
				}
				return
			}
			if n := segmentCount(t, packed); n != c.segments {
				t.Errorf("%d segments, want %d", n, c.segments)
			}
			if !bytes.Equal(memoryAfter(t, packed), memoryAfter(t, c.wasm)) {
				t.Error("memory differs after instantiation")
			}
		})
	}
}

// A Go guest's thousands of segments become a few dozen, and its memory is
// the same after instantiation.
func TestPackDataGuest(t *testing.T) {
	wasm := exampleWasm(t, "hello")
	packed := packData(wasm)
	before, after := segmentCount(t, wasm), segmentCount(t, packed)
	t.Logf("%d segments, %d packed; module %d bytes, %d packed", before, after, len(wasm), len(packed))
	if after == 0 || after*100 > before {
		t.Errorf("%d segments packed into %d", before, after)
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{CacheDir: t.TempDir(), Interpreter: true, MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	image := func(wasm []byte) []byte {
		cm, err := e.r.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		mod, err := e.r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close(ctx)
		b, _ := mod.Memory().Read(0, mod.Memory().Size())
		return bytes.Clone(b)
	}
	if !bytes.Equal(image(packed), image(wasm)) {
		t.Error("memory differs after instantiation")
	}
}

// PackModule writes a Go guest packed, once: a worker that loads the file
// finds nothing left to merge (so Compile hands wazero the very bytes, and
// the cache key, of the module compiled from the original), and the
// machine code the original put in the cache is what the file loads.
func TestPackModule(t *testing.T) {
	wasm := exampleWasm(t, "hello")
	dir := t.TempDir()
	path, err := PackModule(dir, wasm)
	if err != nil {
		t.Fatal(err)
	}
	packed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(packed, packData(wasm)) {
		t.Fatal("the file does not hold the module packed")
	}
	if again := packData(packed); !bytes.Equal(again, packed) || &again[0] != &packed[0] {
		t.Error("packing the packed module changed or copied it: each worker would pack it again")
	}
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := PackModule(dir, wasm); err != nil || p != path {
		t.Fatalf("a second PackModule: %q, %v; want %q", p, err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "stale" {
		t.Error("a second PackModule wrote the file again")
	}
	os.Remove(path)
	if _, err := PackModule(dir, wasm); err != nil {
		t.Fatal(err)
	}

	// wazero's own cache files: one more for each module it compiles.
	wazeroFiles := func() (n int) {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if d != nil && d.IsDir() && strings.HasPrefix(d.Name(), "mpmlab-") {
				return filepath.SkipDir
			}
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	ctx := context.Background()
	for _, w := range [][]byte{wasm, packed} {
		e, err := NewEngine(ctx, EngineConfig{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Compile(ctx, w); err != nil {
			t.Fatal(err)
		}
		e.Close(ctx)
	}
	if n := wazeroFiles(); n != 1 {
		t.Errorf("%d files in wazero's cache after compiling the module and its packed file: want 1, the same machine code", n)
	}
}

// Whatever the input, packData does not panic, and a module it changes
// holds the same bytes in memory after instantiation.
func FuzzPackData(f *testing.F) {
	f.Add(dataModule(active(0, "ab"), active(9, "cd")))
	f.Add(dataModule(active(16, "go"), active(40, "wasm"), active(3, "x")))
	f.Add(dataModule(active(0, "abcd"), active(2, "xy")))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		packed := packData(wasm)
		if bytes.Equal(packed, wasm) {
			return
		}
		if !plausibleVectors(wasm) {
			return // wazero would allocate for the count before finding the bytes missing
		}
		if !boundedSections(wasm) {
			return // wazero could allocate or run far more than the module's bytes
		}
		ctx := context.Background()
		// Memories capped at 1 MiB: a module that asks for more is
		// rejected, not allocated and compared byte by byte. (At 16 MiB,
		// two instances an input, a fuzzing worker's heap grew past 2.5 GB
		// in 25 s and the worker died.)
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(16))
		defer r.Close(ctx)
		orig, err := r.Instantiate(ctx, wasm)
		if err != nil {
			return // packData only checks what it reads; wazero rejects the rest
		}
		pk, err := r.InstantiateWithConfig(ctx, packed, wazero.NewModuleConfig().WithName("packed"))
		if err != nil {
			t.Fatalf("the packed module fails where the original does not: %v", err)
		}
		if orig.Memory() == nil {
			return
		}
		a, _ := orig.Memory().Read(0, orig.Memory().Size())
		b, _ := pk.Memory().Read(0, pk.Memory().Size())
		if !bytes.Equal(a, b) {
			t.Fatal("memory differs after instantiation")
		}
	})
}

// plausibleVectors reports whether each section of wasm that is a vector
// (all but custom, start and data count) counts no more items than it has
// bytes. wazero's decoder sizes a slice from the count before reading the
// items, so a 37-byte module claiming 100 million exports took a fuzzing
// worker 20 s and read as a hang (testdata/fuzz/FuzzPackData/971466bdc396fdda);
// such a module is invalid either way.
func plausibleVectors(wasm []byte) bool {
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return true // wazero finds the section cut short, cheaply
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		if id != 0 && id != 8 && id != 12 {
			if count, m := binary.Uvarint(body); m > 0 && count > uint64(len(body)) {
				return false
			}
		}
		p += 1 + n + int(size)
	}
	return true
}

// boundedSections reports whether wasm has only sections whose decoding
// and instantiation wazero bounds by the module's own size: memory (at
// most 16 pages here), exports with names no longer than the section,
// data and data count, the sections packData reads. Any other may ask
// for far more: instantiation allocates every table at its minimum size,
// up to 2^27 entries (1 GiB) each, and four took 0.5 s here; decoding an
// element segment allocates for its vector's count before reading it; a
// start function runs at instantiation for as long as it likes. The
// fuzzing engine reads each as a hang, or as its worker's death
// (testdata/fuzz/FuzzPackData/4bc156b51668431c, 5236324219827d6f and
// d846122002ee9568 were written while minimizing such inputs: an element
// segment claiming a hundred million items).
func boundedSections(wasm []byte) bool {
	var seen [256]bool
	for p := 8; p < len(wasm); {
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return true // wazero finds the section cut short, cheaply
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		if seen[wasm[p]] {
			// packData reads the last of two data sections, wazero
			// decodes the first, and allocates a segment by its length.
			return false
		}
		seen[wasm[p]] = true
		switch wasm[p] {
		case 5, 11, 12:
		case 7:
			if !boundedExports(body) {
				return false
			}
		default:
			return false
		}
		p += 1 + n + int(size)
	}
	return true
}

// boundedExports reports whether every export's name in an export
// section's body fits in the body (wazero allocates a name by its length).
func boundedExports(body []byte) bool {
	count, n := binary.Uvarint(body)
	if n <= 0 {
		return true
	}
	body = body[n:]
	for range count {
		size, n := binary.Uvarint(body)
		if n <= 0 {
			return true
		}
		if size > uint64(len(body)-n) {
			return false
		}
		body = body[n+int(size):]
		if len(body) < 1 {
			return true
		}
		_, m := binary.Uvarint(body[1:]) // kind, then index
		if m <= 0 {
			return true
		}
		body = body[1+m:]
	}
	return true
}

// A module with a data count section is left as it is: its code may name
// segments by index (memory.init, data.drop), which merging renumbers.
func TestPackDataLeavesDataCount(t *testing.T) {
	m := dataModule(active(0, "ab"), active(9, "cd"))
	if bytes.Equal(packData(m), m) {
		t.Fatal("the module without a data count section was not packed: the test proves nothing")
	}
	// Where it stands does not matter to packData.
	withCount := append([]byte{}, m[:8]...)
	withCount = appendSection(withCount, sectionDataCount, []byte{2})
	withCount = append(withCount, m[8:]...)
	if got := packData(withCount); !bytes.Equal(got, withCount) {
		t.Fatal("a module with a data count section was packed")
	}
}
