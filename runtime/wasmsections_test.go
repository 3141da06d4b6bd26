package runtime

import (
	"reflect"
	"testing"
)

func TestSections(t *testing.T) {
	head := "\x00asm\x01\x00\x00\x00"
	// A type section of 2 bytes, then a custom section of 3.
	wasm := []byte(head + "\x01\x02ab" + "\x00\x03\x01xy")
	got, ok := sections(wasm)
	want := []wasmSection{{id: 1, start: 8, body: 10, end: 12}, {id: 0, start: 12, body: 14, end: 17}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("sections = %+v, %v; want %+v", got, ok, want)
	}
	if got, ok := sections([]byte(head)); !ok || len(got) != 0 {
		t.Errorf("no sections: %+v, %v", got, ok)
	}
	for name, bad := range map[string]string{
		"not wasm":               "\x7fELF\x02\x01\x01\x00",
		"too short":              "\x00asm",
		"a section past the end": head + "\x01\x05ab",
		"a size cut short":       head + "\x01\x80",
	} {
		if got, ok := sections([]byte(bad)); ok {
			t.Errorf("%s: sections = %+v, want not ok", name, got)
		}
	}
}
