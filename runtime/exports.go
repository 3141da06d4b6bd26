package runtime

import "encoding/binary"

// exportsFunc reports whether the module wasm exports a function called
// name, read from its export section; ok is false when that section could
// not be read (the caller then asks wazero).
//
// Not wazero's CompiledModule.ExportedFunctions: to describe the exports it
// builds an api.FunctionDefinition for every function of the module, all
// kept for the module's life, about 0.5 MB of a worker's live heap for a Go
// guest, which the collector's goal then counts half again (RATIONALE.md,
// "A worker's memory"). Machine code never needs them.
func exportsFunc(wasm []byte, name string) (found, ok bool) {
	const sectionExport, kindFunc = 7, 0
	secs, ok := sections(wasm)
	if !ok {
		return false, false
	}
	for _, sec := range secs {
		if sec.id != sectionExport {
			continue
		}
		body := wasm[sec.body:sec.end]
		count, k := binary.Uvarint(body)
		if k <= 0 {
			return false, false
		}
		body = body[k:]
		for range count {
			l, k := binary.Uvarint(body)
			if k <= 0 || l > uint64(len(body)-k) {
				return false, false
			}
			match := string(body[k:k+int(l)]) == name
			body = body[k+int(l):]
			if len(body) < 1 {
				return false, false
			}
			kind := body[0]
			_, k = binary.Uvarint(body[1:]) // the index
			if k <= 0 {
				return false, false
			}
			body = body[1+k:]
			if match && kind == kindFunc {
				return true, true
			}
		}
		return false, len(body) == 0
	}
	return false, true // no export section: nothing exported
}
