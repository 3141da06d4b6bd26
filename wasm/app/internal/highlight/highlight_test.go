package highlight

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

var tags = regexp.MustCompile(`<span class=[a-z]>|</span>`)

func TestGo(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"package main\n", "<span class=k>package</span> main\n"},
		{`x := "a<b" // c&d`, `x := <span class=s>"a&lt;b"</span> <span class=c>// c&amp;d</span>`},
		{"n := len(s) + 0x1f", "n := <span class=b>len</span>(s) + <span class=n>0x1f</span>"},
		{"func f() {}", "<span class=k>func</span> <span class=f>f</span>() {}"},
		{"fmt.Println(x)", "fmt.<span class=f>Println</span>(x)"},
		{"s := \"unterminated\nx", "s := <span class=s>\"unterminated</span>\nx"},
		{"a := `raw\r\nline`", "a := `raw\r\nline`"},
		{"/* a\nb */ x", "<span class=c>/* a</span>\n<span class=c>b */</span> x"},
	} {
		if got, _ := Go(nil, []byte(tc.src), nil); string(got) != tc.want {
			t.Errorf("Go(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// The text under the spans must be the source exactly, or the caret in the
// textarea drifts from what is shown.
func TestGoKeepsText(t *testing.T) {
	src := strings.Repeat(sample, 3) + "/* a\n\nblock */ x := `raw\n\nstring`\n\x00 /* unterminated\nto the end"
	out, lines := Go(nil, []byte(src), nil)
	if got := html.UnescapeString(tags.ReplaceAllString(string(out), "")); got != src {
		t.Fatalf("text changed:\n got %q\nwant %q", got, src)
	}
	// Each line alone is balanced HTML of that line.
	srcLines := strings.SplitAfter(src, "\n")
	if len(lines) != len(srcLines)+1 {
		t.Fatalf("%d line offsets for %d lines", len(lines), len(srcLines))
	}
	for i, want := range srcLines {
		h := string(out[lines[i]:lines[i+1]])
		if strings.Count(h, "<span") != strings.Count(h, "</span>") {
			t.Errorf("line %d unbalanced: %q", i+1, h)
		}
		if got := html.UnescapeString(tags.ReplaceAllString(h, "")); got != want {
			t.Errorf("line %d: %q, want %q", i+1, got, want)
		}
	}
}

func BenchmarkGo(b *testing.B) {
	src := []byte(strings.Repeat(sample, 64<<10/len(sample)))
	b.SetBytes(int64(len(src)))
	var dst []byte
	var lines []int
	for b.Loop() {
		dst, lines = Go(dst[:0], src, lines)
	}
}

const sample = `package main

import (
	"fmt"
	"net/http"
)

// handler answers with a <greeting> & more.
func handler(w http.ResponseWriter, r *http.Request) {
	n := 0x2a + 1.5i
	fmt.Fprintf(w, "hello %d\n", len(r.URL.Path)+int(real(n)))
	_ = 'x'
	_ = ` + "`raw\nstring`" + `
}
`
