package runtime

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Data segments, merged.
//
// Go's linker writes a module's data as one active segment per run of
// bytes between runs of zeros: about 56,000 segments of 28 bytes on average
// for hello (1.5 MB of data), most of them 16 to 23 zero bytes apart.
// wazero decodes each into a struct of its own and keeps them all for the
// life of the module (wasm.Module.DataSection), and every instance keeps a
// slice header per segment too (ModuleInstance.DataInstances): about 100
// bytes of Go heap per segment, 5.5 MB, which the garbage collector scans on
// every cycle, for 1.5 MB of data.
//
// packData merges segments less than a page apart, writing the zeros
// between them: what linear memory holds after instantiation is the same
// (it starts zeroed, and the segments do not overlap), no page is touched
// that was not touched before (a gap holds no whole page), and the
// segments become a few dozen, holding about 1 MB more of zeros than
// before.

// maxDataGap is the widest run of zeros between two segments that packData
// fills in: narrower than a page, so that filling it makes no page of linear
// memory resident that was not.
const maxDataGap = 4096 - 1

// Wasm binary format: section ids, and what a data segment starts with.
const (
	sectionData      = 11
	sectionDataCount = 12
	segmentActive0   = 0    // an active segment of memory 0: offset expression, bytes
	opI32Const       = 0x41 // i32.const n
	opEnd            = 0x0b
)

// packData returns wasm with its data segments merged (see above), or wasm
// itself if it has nothing to merge or anything packData does not expect: a
// passive segment, another memory's, an offset that is not a constant,
// segments that overlap, a data count section.
func packData(wasm []byte) []byte {
	out, err := packDataErr(wasm)
	if err != nil {
		return wasm
	}
	return out
}

type dataSegment struct {
	offset uint32
	data   []byte
}

var errNotPacked = errors.New("not packed")

func packDataErr(wasm []byte) ([]byte, error) {
	// Find the data section (and the data count section, if any).
	secs, ok := sections(wasm)
	if !ok {
		return nil, errNotPacked
	}
	var data, count wasmSection
	for _, s := range secs {
		switch s.id {
		case sectionData:
			data = s
		case sectionDataCount:
			count = s
		}
	}
	if data.end == 0 || count.end != 0 {
		// With a data count section, code may name segments by index
		// (memory.init, data.drop), which merging renumbers. Go's linker
		// writes none.
		return nil, errNotPacked
	}

	segs, err := readDataSegments(wasm[data.body:data.end])
	if err != nil {
		return nil, err
	}
	slices.SortFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.offset, b.offset) })
	var merged []dataSegment
	for _, s := range segs {
		if len(merged) == 0 {
			merged = append(merged, dataSegment{s.offset, slices.Clone(s.data)})
			continue
		}
		last := &merged[len(merged)-1]
		end := uint64(last.offset) + uint64(len(last.data))
		switch {
		case uint64(s.offset) < end:
			return nil, errNotPacked // overlapping: order would matter
		case uint64(s.offset)-end <= maxDataGap:
			last.data = append(last.data, make([]byte, uint64(s.offset)-end)...)
			last.data = append(last.data, s.data...)
		default:
			merged = append(merged, dataSegment{s.offset, slices.Clone(s.data)})
		}
	}
	if len(merged) == len(segs) {
		return nil, errNotPacked
	}

	body := binary.AppendUvarint(nil, uint64(len(merged)))
	for _, s := range merged {
		body = append(body, segmentActive0, opI32Const)
		body = appendSLEB128(body, int64(s.offset))
		body = append(body, opEnd)
		body = binary.AppendUvarint(body, uint64(len(s.data)))
		body = append(body, s.data...)
	}
	out := make([]byte, 0, len(wasm)+len(body)-(data.end-data.body))
	for p := 0; p < len(wasm); {
		switch {
		case p == data.start:
			out = appendSection(out, sectionData, body)
			p = data.end
		default:
			next := len(wasm)
			if data.start > p {
				next = data.start
			}
			out = append(out, wasm[p:next]...)
			p = next
		}
	}
	return out, nil
}

// readDataSegments decodes a data section's contents, of active segments
// of memory 0 at constant offsets only.
func readDataSegments(b []byte) ([]dataSegment, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errNotPacked
	}
	b = b[k:]
	segs := make([]dataSegment, 0, n)
	for range n {
		// 0x00, i32.const offset, end, size, bytes
		if len(b) < 2 || b[0] != segmentActive0 || b[1] != opI32Const {
			return nil, errNotPacked
		}
		offset, k := readSLEB128(b[2:])
		if k <= 0 || offset < 0 || offset > math.MaxInt32 || len(b) < 2+k+1 || b[2+k] != opEnd {
			return nil, errNotPacked
		}
		b = b[2+k+1:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errNotPacked
		}
		segs = append(segs, dataSegment{uint32(offset), b[k : k+int(size)]})
		b = b[k+int(size):]
	}
	if len(b) != 0 {
		return nil, errNotPacked
	}
	return segs, nil
}

// appendSection appends a section: its id, its size, its contents.
func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// readSLEB128 decodes a signed LEB128 number (wasm's encoding of an
// i32.const), returning it and its length, or a length of 0.
// (encoding/binary's Varint is zig-zag, not LEB128.)
func readSLEB128(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i, c := range b {
		if i == 10 {
			return 0, 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}

// appendSLEB128 appends v in signed LEB128.
func appendSLEB128(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// packedDir is the directory in EngineConfig.CacheDir that holds modules
// packed by PackModule.
const packedDir = "mpmlab-packed"

// PackedPath is where PackModule writes wasm packed, under cacheDir:
// CacheDir/wazero/mpmlab-packed/<SHA-256 of wasm>.wasm for an engine's
// cacheDir, whether or not it is there yet.
func PackedPath(cacheDir string, wasm []byte) string {
	return packedPathOf(cacheDir, sha256.Sum256(wasm))
}

// packedPathOf is PackedPath of the module whose SHA-256 is sum.
func packedPathOf(cacheDir string, sum [sha256.Size]byte) string {
	if cacheDir == "" {
		cacheDir = defaultEngineCacheDir()
	}
	return filepath.Join(cacheDir, packedDir, hex.EncodeToString(sum[:])+".wasm")
}

// PackModule writes wasm with its data segments merged to a file under
// cacheDir (an EngineConfig.CacheDir; "" is the default), once, and returns
// its path: Compile then finds nothing to merge, so every worker that
// compiles (loads) it from that file is spared packing it again, a copy of
// the module and tens of milliseconds of a start. The file is named by the
// SHA-256 of wasm; it may be deleted at any time.
func PackModule(cacheDir string, wasm []byte) (string, error) {
	if cacheDir == "" {
		cacheDir = defaultEngineCacheDir()
	}
	path := PackedPath(cacheDir, wasm)
	dir := filepath.Dir(path)
	if exists(path) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("packing the module: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".packing-*")
	if err != nil {
		return "", fmt.Errorf("packing the module: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	_, err = tmp.Write(packData(wasm))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path) // whole or absent, whoever else packs it
	}
	if err != nil {
		return "", fmt.Errorf("packing the module: %w", err)
	}
	return path, nil
}
