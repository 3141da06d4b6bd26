package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sandboxHandler is an example-like experiment that uses what the sandbox
// gives a handler: its own files, a template, a file server, a time zone,
// its environment and a temp dir; and tries what it refuses.
const sandboxHandler = `package main

import (
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("data.json")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(b)
	})
	page := template.Must(template.ParseFiles("page.html"))
	http.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		page.Execute(w, map[string]string{"Greeting": os.Getenv("GREETING")})
	})
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir("."))))
	http.HandleFunc("/tz", func(w http.ResponseWriter, r *http.Request) {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC).In(loc).Format("15:04 MST"))
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("GREETING") != "bonjour" {
			http.Error(w, "GREETING="+os.Getenv("GREETING"), 500)
			return
		}
		fmt.Fprintf(w, "GREETING=%s EMPTY=%q", os.Getenv("GREETING"), os.Getenv("EMPTY"))
	})
	http.HandleFunc("/tmp", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.CreateTemp("", "t-")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer os.Remove(f.Name())
		f.WriteString("kept " + r.URL.Query().Get("v"))
		f.Seek(0, io.SeekStart)
		b, _ := io.ReadAll(f)
		f.Close()
		fmt.Fprintf(w, "%s in %s", b, os.TempDir())
	})
	http.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 10); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer r.MultipartForm.RemoveAll()
		f, h, err := r.FormFile("f")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, onDisk := f.(*os.File)
		n, _ := io.Copy(io.Discard, f)
		fmt.Fprintf(w, "%s %d bytes, in a temp file: %v", h.Filename, n, onDisk)
	})
	http.HandleFunc("/refused", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "write: %v\n", os.WriteFile("data.json", []byte("{}"), 0o644))
		_, err := os.ReadFile("/etc/passwd")
		fmt.Fprintf(w, "host: %v\n", err)
		_, err = net.Dial("tcp", "127.0.0.1:1")
		fmt.Fprintf(w, "net: %v\n", err)
		fmt.Fprintf(w, "exec: %v\n", exec.Command("/bin/true").Run())
		_, err = os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
		fmt.Fprintf(w, "start: %v\n", err)
	})
	guest.Serve(nil)
}
`

// writeSandboxExperiment writes the experiment as a directory.
func writeSandboxExperiment(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"main.go":   sandboxHandler,
		"data.json": `{"city":"Paris"}`,
		"page.html": `<p>{{.Greeting}}, {{"<world>"}}</p>`,
		"site.css":  "body { color: teal }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The handler reads its experiment's files, parses a template, serves a
// file server, loads a time zone, reads its environment and uses a temp
// dir (a multipart upload past maxMemory too), under every model; what the
// sandbox refuses fails with the error the docs promise.
func TestSandboxFilesEnvTmp(t *testing.T) {
	dir := writeSandboxExperiment(t)
	for _, model := range []string{"process", "thread", "reactor", "event"} {
		t.Run(model, func(t *testing.T) {
			s := startRun(t, "--model", model, "--env", "GREETING=bonjour", "--env", "EMPTY=", dir)
			checks := []struct {
				path, want, ctype string
			}{
				{"/data", `{"city":"Paris"}`, ""},
				{"/page", `<p>bonjour, &lt;world&gt;</p>`, "text/html; charset=utf-8"},
				{"/static/site.css", "body { color: teal }\n", "text/css; charset=utf-8"},
				{"/static/data.json", `{"city":"Paris"}`, "application/json"},
				{"/tz", "14:00 CEST", ""},
				{"/env", `GREETING=bonjour EMPTY=""`, ""},
				{"/tmp?v=1", "kept 1 in /tmp", ""},
			}
			for _, c := range checks {
				resp, err := client.Get(s.URL + c.path)
				if err != nil {
					t.Fatalf("GET %s: %v", c.path, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != c.want {
					t.Errorf("GET %s: %d %q, want 200 %q", c.path, resp.StatusCode, b, c.want)
				}
				if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
					t.Errorf("GET %s: Content-Type %q, want %q", c.path, resp.Header.Get("Content-Type"), c.ctype)
				}
			}
			// A file listing of the root: the experiment's files and /tmp.
			r := get(s.URL + "/static/")
			for _, name := range []string{"data.json", "main.go", "page.html", "site.css", "tmp/"} {
				if !strings.Contains(r.Body, `href="`+name+`"`) {
					t.Errorf("GET /static/ lists no %s:\n%s", name, r.Body)
				}
			}
			// A part of 256 KiB past a maxMemory of 1 KiB goes to /tmp.
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			part, _ := mw.CreateFormFile("f", "big.bin")
			part.Write(bytes.Repeat([]byte("x"), 256<<10))
			mw.Close()
			resp, err := client.Post(s.URL+"/upload", mw.FormDataContentType(), &body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := "big.bin 262144 bytes, in a temp file: true"; resp.StatusCode != 200 || string(b) != want {
				t.Errorf("upload: %d %q, want %q", resp.StatusCode, b, want)
			}
			r = get(s.URL + "/refused")
			for _, want := range []string{
				"write: open data.json: Read-only file system\n",
				"host: open /etc/passwd: No such file or directory\n",
				"net: dial tcp 127.0.0.1:1: address 127.0.0.1:1: connect: Connection refused\n",
				"exec: open /dev/null: No such file or directory\n",
				"start: fork/exec /bin/true: Not implemented on wasip1\n",
			} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("GET /refused lacks %q:\n%s", want, r.Body)
				}
			}
			if t.Failed() {
				t.Logf("GET /refused:\n%s", r.Body)
			}
		})
	}
}

// bench passes --env and the data files to every model, and to the native
// baseline: /env answers 500 without GREETING.
func TestBenchEnvAndFiles(t *testing.T) {
	dir := writeSandboxExperiment(t)
	for _, path := range []string{"/env", "/data"} {
		res := benchJSON(t, "--model", "reactor", "--baseline", "--env", "GREETING=bonjour", "--requests", "20", "--concurrency", "2", "--path", path, dir)
		for _, model := range []string{"native", "reactor"} {
			s := res[model]["summary"].(map[string]any)
			if s["errors"].(float64) != 0 || s["succeeded"].(float64) != 20 {
				t.Errorf("bench %s %s: %v errors, %v succeeded, status codes %v", model, path, s["errors"], s["succeeded"], s["status_codes"])
			}
		}
	}
}

// A bad --env is refused with one clear line, before anything starts.
func TestBadEnv(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--env", "GREETING", "hello"}, `--env "GREETING": want NAME=value`},
		{[]string{"run", "--env", "=x", "hello"}, "--env a variable has no name"},
		{[]string{"bench", "--env", "MPMLAB_MODEL=x", "hello"}, `--env name "MPMLAB_MODEL": names starting with MPMLAB_ are the host's`},
	} {
		_, stderr, code := mpmlab(t, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("mpmlab %q: exit %d, want one line containing %q, got:\n%s", c.args, code, c.want, stderr)
		}
	}
}
