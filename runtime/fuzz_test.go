package runtime

import (
	"bytes"
	"sort"
	"strings"
	"testing"
)

// The fuzz target's seed corpus is testdata/fuzz/FuzzParseTxtar: archives
// of one and several files, comments, CRLF lines, look-alike markers and
// sources Validate refuses. `make fuzz-smoke` runs it for a few seconds.

// FuzzParseTxtar: any archive (mpmlab run PATH.txtar, or what a page
// sends) parses and validates without a panic; what parses is sorted, has
// named files, and survives a round trip through its canonical form
// (Txtar) with the same files and Hash; and a source Validate accepts
// meets every rule it states.
func FuzzParseTxtar(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := ParseTxtar(data)
		if err != nil {
			return
		}
		if !sort.SliceIsSorted(src.Files, func(i, j int) bool { return src.Files[i].Name < src.Files[j].Name }) {
			t.Fatalf("files not sorted: %q", names(src))
		}
		for _, f := range src.Files {
			if f.Name == "" || f.Name != strings.TrimSpace(f.Name) {
				t.Fatalf("file name %q", f.Name)
			}
		}
		back, err := ParseTxtar(src.Txtar())
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, src.Txtar())
		}
		if len(back.Files) != len(src.Files) {
			t.Fatalf("round trip: files %q, then %q", names(src), names(back))
		}
		for i, f := range src.Files {
			want := f.Data
			if len(want) > 0 && want[len(want)-1] != '\n' {
				want = append(append([]byte(nil), want...), '\n')
			}
			if back.Files[i].Name != f.Name || !bytes.Equal(back.Files[i].Data, want) {
				t.Fatalf("round trip of %s: %q, then %s: %q", f.Name, f.Data, back.Files[i].Name, back.Files[i].Data)
			}
		}
		if back.Hash() != src.Hash() {
			t.Fatal("Hash changed in a round trip")
		}
		if src.Validate() != nil {
			return
		}
		seen := map[string]bool{}
		for _, f := range src.Files {
			if checkFileName(f.Name) != nil || seen[f.Name] {
				t.Fatalf("Validate accepted file %q (names %q)", f.Name, names(src))
			}
			seen[f.Name] = true
		}
		if src.Size() > MaxSourceSize {
			t.Fatalf("Validate accepted %d bytes", src.Size())
		}
	})
}

func names(src *Source) []string {
	var out []string
	for _, f := range src.Files {
		out = append(out, f.Name)
	}
	return out
}
