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
	} {
		if got := string(Go(nil, []byte(tc.src))); got != tc.want {
			t.Errorf("Go(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// The text under the spans must be the source exactly, or the caret in the
// textarea drifts from what is shown.
func TestGoKeepsText(t *testing.T) {
	src := strings.Repeat(sample, 3) + "\x00 /* unterminated"
	got := html.UnescapeString(tags.ReplaceAllString(string(Go(nil, []byte(src))), ""))
	if got != src {
		t.Fatalf("text changed:\n got %q\nwant %q", got, src)
	}
}

func BenchmarkGo(b *testing.B) {
	src := []byte(strings.Repeat(sample, 64<<10/len(sample)))
	b.SetBytes(int64(len(src)))
	var dst []byte
	for b.Loop() {
		dst = Go(dst[:0], src)
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
