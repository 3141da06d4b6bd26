package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The browser models give the handler the experiment's files and env as
// the host does: the sandbox handler (sandbox_test.go), built for GOOS=js,
// reads data.json, parses its template, serves its files, loads a time
// zone, reads GREETING and uses /tmp, under each browser model; a write to
// its files is refused as read-only.
func TestBrowserSandboxFilesEnv(t *testing.T) {
	srv := startServe(t, "")
	files := map[string]string{
		"main.go":   sandboxHandler,
		"data.json": `{"city":"Paris"}`,
		"page.html": `<p>{{.Greeting}}, {{"<world>"}}</p>`,
		"site.css":  "body { color: teal }\n",
	}
	var list []map[string]string
	for name, data := range files {
		list = append(list, map[string]string{"name": name, "data": data})
	}
	body := srv.wantStatus(t, 200, "POST", "/api/build/js", map[string]any{"source": map[string]any{"files": list}})
	var built struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &built); err != nil || built.URL == "" {
		t.Fatalf("build/js: %v %s", err, body)
	}
	filesJS, _ := json.Marshal(files)
	browser := newBrowser(t)
	tb := newTab(t, browser, false)
	tb.open(srv.URL + "/")
	tb.wait(`typeof mpmlabBrowser === "object"`, 10*time.Second, "mpmlabBrowser")
	for _, model := range []string{"instance-per-request", "worker-pool", "page-loop"} {
		t.Run(model, func(t *testing.T) {
			tb.t = t
			var started struct {
				Lanes []string `json:"lanes"`
			}
			tb.await(fmt.Sprintf(`mpmlabBrowser.start({model: %q, workers: 2, wasmURL: %q, env: {GREETING: "bonjour", EMPTY: ""}, files: %s})`, model, built.URL, filesJS), &started)
			defer tb.await(`Promise.resolve(mpmlabBrowser.stop() || 0)`, new(int))
			for _, c := range []struct{ path, want string }{
				{"/data", `{"city":"Paris"}`},
				{"/page", `<p>bonjour, &lt;world&gt;</p>`},
				{"/static/site.css", "body { color: teal }\n"},
				{"/tz", "14:00 CEST"},
				{"/env", `GREETING=bonjour EMPTY=""`},
				{"/tmp?v=2", "kept 2 in /tmp"},
			} {
				var r browserResult
				tb.await(fmt.Sprintf(`mpmlabBrowser.fetch(%q)`, c.path), &r)
				if r.Status != 200 || r.Body != c.want {
					t.Errorf("%s: %d %q (error %q), want 200 %q", c.path, r.Status, r.Body, r.Error, c.want)
				}
			}
			var r browserResult
			tb.await(`mpmlabBrowser.fetch("/refused")`, &r)
			if want := "write: open data.json: Read-only file system\n"; !strings.Contains(r.Body, want) {
				t.Errorf("/refused: %q, want it to contain %q", r.Body, want)
			}
		})
	}
}
