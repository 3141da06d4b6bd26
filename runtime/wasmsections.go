package runtime

import "encoding/binary"

// wasmSection is where one section of a wasm module lies in its bytes:
// its id at start, its contents wasm[body:end].
type wasmSection struct {
	id               byte
	start, body, end int
}

// sections lists the sections of the module wasm in order; false if it is
// not a module or a section runs past its end. It reads only the section
// headers: each caller decodes the contents it needs.
func sections(wasm []byte) ([]wasmSection, bool) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, false
	}
	var out []wasmSection
	for p := 8; p < len(wasm); {
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return nil, false
		}
		s := wasmSection{id: wasm[p], start: p, body: p + 1 + n, end: p + 1 + n + int(size)}
		out = append(out, s)
		p = s.end
	}
	return out, true
}
