package experiment

import (
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

const helloMain = "package main\n\nimport \"github.com/mpmlab/mpmlab/wasm/guest\"\n\nfunc main() { guest.Serve(nil) }\n"

func TestSourceValidate(t *testing.T) {
	one := func(name, data string) Source { return Source{Files: []File{{Name: name, Data: data}}} }
	many := Source{}
	for i := range MaxFiles + 1 {
		many.Files = append(many.Files, File{Name: string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".go", Data: "package main\n"})
	}
	tests := []struct {
		name    string
		src     Source
		wantErr string // "" for valid
	}{
		{"hello", one("main.go", helloMain), ""},
		{"comments first", one("main.go", "// Package doc.\n/* more */\n\npackage main\n"), ""},
		{"no files", Source{}, "source has no files"},
		{"too many files", many, "source has 33 files; the limit is 32"},
		{"too big", one("main.go", "package main\n//"+strings.Repeat("x", MaxSourceSize)), "the limit is 65536 (64 KiB)"},
		{"directory", one("a/main.go", "package main\n"), "no directories"},
		{"not go", one("go.mod", "module x\n"), `file name "go.mod": want a .go file or a data file (.json .html`},
		{"assembly", one("x.s", "TEXT"), `file name "x.s": want a .go file or a data file`},
		{"data", Source{Files: []File{{"main.go", helloMain}, {"data.json", "{}"}, {"index.html", "<p>"}, {"_a.css", ""}}}, ""},
		{"data only", one("data.json", "{}"), "source has no .go files"},
		{"hidden data", Source{Files: []File{{"main.go", helloMain}, {".env.txt", "x"}}}, `file name ".env.txt": a name may not start with '.'`},
		{"binary data", Source{Files: []File{{"main.go", helloMain}, {"a.txt", "\xff\xfe"}}}, "a.txt: a data file must be text in UTF-8"},
		{"data in a directory", Source{Files: []File{{"main.go", helloMain}, {"static/a.css", ""}}}, "no directories"},
		{"test file", one("main_test.go", "package main\n"), "_test.go files are not allowed"},
		{"ignored", one("_x.go", "package main\n"), "Go ignores files starting with"},
		{"long name", one(strings.Repeat("x", 200)+".go", "package main\n"), "longer than 128 bytes"},
		{"twice", Source{Files: []File{{"main.go", "package main\n"}, {"main.go", "package main\n"}}}, "main.go: file appears twice"},
		{"not main", one("lib.go", "package lib\n"), "lib.go:1:9: package lib, want package main"},
		{"not Go", one("junk.go", "hello\n"), "junk.go:1:1: expected 'package', found hello"},
		{"empty", one("main.go", ""), "main.go:1:1: expected 'package', found EOF"},
		{"no name", one("main.go", "package ;\n"), "main.go:1:9: expected package name, found ';'"},
		{"bad comment", one("main.go", "/* never closed\npackage main\n"), "main.go:1:1: comment not terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.src.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSourceTxtarRoundTrip(t *testing.T) {
	src := Source{Files: []File{
		{Name: "main.go", Data: helloMain},
		{Name: "util.go", Data: "package main\n\n// -- not a marker --\nfunc util() {}\n"},
	}}
	ar := string(src.Txtar())
	want := "-- main.go --\n" + helloMain + "-- util.go --\npackage main\n\n// -- not a marker --\nfunc util() {}\n"
	if ar != want {
		t.Fatalf("Txtar() =\n%s\nwant\n%s", ar, want)
	}
	back, err := ParseTxtar([]byte("a comment\n" + ar))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Files) != 2 || back.Files[0] != src.Files[0] || back.Files[1] != src.Files[1] {
		t.Errorf("ParseTxtar(Txtar()) = %+v, want %+v", back, src)
	}
	if back.Hash() != src.Hash() || len(src.Hash()) != 64 {
		t.Errorf("Hash() = %q after round trip, %q before", back.Hash(), src.Hash())
	}
	swapped := Source{Files: []File{src.Files[1], src.Files[0]}}
	if string(swapped.Txtar()) != ar || swapped.Hash() != src.Hash() {
		t.Errorf("Txtar or Hash depends on the order of Files")
	}
	if _, err := ParseTxtar([]byte("just a comment\n")); err == nil || !strings.Contains(err.Error(), "txtar has no files") {
		t.Errorf("ParseTxtar(no markers) error = %v", err)
	}
}

// TestSourceHashSeparatesFiles: a file that holds a marker line is not the
// same source as the two files its txtar form reads as (their txtar forms
// are equal, so a hash of that form, as the build cache key once was,
// would give one module for both).
func TestSourceHashSeparatesFiles(t *testing.T) {
	one := Source{Files: []File{{Name: "a.go", Data: "package main\n-- b.go --\npackage main\n"}}}
	two := Source{Files: []File{{Name: "a.go", Data: "package main\n"}, {Name: "b.go", Data: "package main\n"}}}
	if string(one.Txtar()) != string(two.Txtar()) {
		t.Fatalf("the premise: txtar forms differ:\n%s\n%s", one.Txtar(), two.Txtar())
	}
	if one.Hash() == two.Hash() {
		t.Error("one file holding a marker line and two files have the same Hash")
	}
	if data := (Source{Files: []File{{Name: "a.go", Data: "x"}}}); data.Hash() == (Source{Files: []File{{Name: "a.g", Data: "ox"}}}).Hash() {
		t.Error("name and content boundaries are not part of the Hash")
	}
}

// FuzzParseTxtar: any archive (mpmlab run PATH.txtar, or what a page
// sends) parses and validates without a panic; what parses is sorted, has
// named files, and survives a round trip through Txtar with the same files
// (each ending in a newline) and, when every file already ended in one, the
// same Hash; and a source Validate accepts meets every rule it states.
func FuzzParseTxtar(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := ParseTxtar(data)
		if err != nil {
			return
		}
		if !sort.SliceIsSorted(src.Files, func(i, j int) bool { return src.Files[i].Name < src.Files[j].Name }) {
			t.Fatalf("files not sorted: %q", fileNames(src))
		}
		for _, f := range src.Files {
			if f.Name == "" || f.Name != strings.TrimSpace(f.Name) {
				t.Fatalf("file name %q", f.Name)
			}
		}
		back, err := ParseTxtar(src.Txtar())
		if err != nil {
			t.Fatalf("txtar form does not parse: %v\n%s", err, src.Txtar())
		}
		if len(back.Files) != len(src.Files) {
			t.Fatalf("round trip: files %q, then %q", fileNames(src), fileNames(back))
		}
		endsInNewline := true
		for i, f := range src.Files {
			want := f.Data
			if want != "" && want[len(want)-1] != '\n' {
				want += "\n"
				endsInNewline = false
			}
			if back.Files[i].Name != f.Name || back.Files[i].Data != want {
				t.Fatalf("round trip of %s: %q, then %s: %q", f.Name, f.Data, back.Files[i].Name, back.Files[i].Data)
			}
		}
		if endsInNewline && back.Hash() != src.Hash() {
			t.Fatal("Hash changed in a round trip")
		}
		if src.Validate() != nil {
			return
		}
		seen := map[string]bool{}
		goFiles := 0
		for _, f := range src.Files {
			// A data file (data.json, a template) is any text; a .go
			// file must be of package main.
			bad := !IsData(f.Name) && checkPackageMain(f) != nil || IsData(f.Name) && !utf8.ValidString(f.Data)
			if checkFileName(f.Name) != nil || seen[f.Name] || bad {
				t.Fatalf("Validate accepted file %q (names %q)", f.Name, fileNames(src))
			}
			if !IsData(f.Name) {
				goFiles++
			}
			seen[f.Name] = true
		}
		if goFiles == 0 {
			t.Fatalf("Validate accepted a source without a .go file (names %q)", fileNames(src))
		}
		if src.Size() > MaxSourceSize || len(src.Files) > MaxFiles {
			t.Fatalf("Validate accepted %d bytes in %d files", src.Size(), len(src.Files))
		}
	})
}

func fileNames(src Source) []string {
	var out []string
	for _, f := range src.Files {
		out = append(out, f.Name)
	}
	return out
}
