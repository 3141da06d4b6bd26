package runtime

import (
	"strings"
	"testing"
)

// A real Go guest reads the experiment's files through os, io/fs and
// net/http, cannot change them, reaches nothing of the host, and has a
// /tmp of its own that fills up at its limit.
func TestGuestFiles(t *testing.T) {
	files, err := NewFiles(map[string][]byte{
		"data.json":       []byte(`{"greeting":"bonjour"}`),
		"static/site.css": []byte("body{}"),
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := startGuest(t, `package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		check := func(what string, err error) { fmt.Fprintf(w, "%s: %v\n", what, err) }
		b, err := os.ReadFile("data.json")
		fmt.Fprintf(w, "read: %s %v\n", b, err)
		b, err = os.ReadFile("/static/site.css")
		fmt.Fprintf(w, "abs: %s %v\n", b, err)
		cwd, _ := os.Getwd()
		fmt.Fprintf(w, "cwd: %s tmp: %s\n", cwd, os.TempDir())
		var names []string
		fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
			names = append(names, p)
			return err
		})
		fmt.Fprintf(w, "walk: %s\n", strings.Join(names, " "))
		fi, err := os.Stat("data.json")
		fmt.Fprintf(w, "stat: %d %v %v\n", fi.Size(), fi.Mode().IsRegular(), err)
		check("write", os.WriteFile("data.json", []byte("x"), 0o644))
		check("create", os.WriteFile("new.txt", []byte("x"), 0o644))
		check("remove", os.Remove("data.json"))
		_, err = os.ReadFile("/etc/passwd")
		check("host", err)
		check("tmp write", os.WriteFile("/tmp/a.txt", bytes.Repeat([]byte("a"), 1000), 0o644))
		b, err = os.ReadFile(os.TempDir() + "/a.txt")
		fmt.Fprintf(w, "tmp read: %d %v\n", len(b), err)
		err = os.WriteFile("/tmp/big", make([]byte, 2<<20), 0o644)
		fmt.Fprintf(w, "tmp full: %v %v\n", err, errors.Is(err, fs.ErrNotExist))
		os.Remove("/tmp/big")
		rec := httptest.NewRecorder()
		http.FileServer(http.Dir(".")).ServeHTTP(rec, httptest.NewRequest("GET", "/static/site.css", nil))
		fmt.Fprintf(w, "fileserver: %d %s %q\n", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	})
	guest.Serve(nil)
}
`, InstanceConfig{Files: files, TmpLimit: 1 << 20})
	resp, err := get(t, inst, "/")
	if err != nil {
		t.Fatal(err)
	}
	body := string(resp.Body)
	for _, want := range []string{
		`read: {"greeting":"bonjour"} <nil>`,
		`abs: body{} <nil>`,
		`cwd: / tmp: /tmp`,
		`walk: . data.json static static/site.css tmp`,
		`stat: 22 true <nil>`,
		`write: open data.json: Read-only file system`,
		`create: open new.txt: Read-only file system`,
		`remove: remove data.json: Read-only file system`,
		`host: open /etc/passwd: No such file or directory`,
		`tmp write: <nil>`,
		`tmp read: 1000 <nil>`,
		`tmp full: write /tmp/big: No space left on device false`,
		`fileserver: 200 text/css; charset=utf-8 "body{}"`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("response lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("response:\n%s", body)
	}
}
