//go:build !js

package main

// These tests run the share service as Workers would: wrangler's local mode
// (workerd, with local R2 state in a temporary directory), started from the
// pinned wrangler and Node.js in node_modules (make share-npm installs
// them; make test does so first).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/playground"
	"github.com/mpmlab/mpmlab/playground/share/sharetest"
)

// Workers' limits on a deployed script, after gzip (Cloudflare's Workers
// limits page): the free plan's, which the service keeps within so that
// anyone can deploy it, and the paid plan's.
const (
	freeScriptLimitKiB = 3 << 10
	paidScriptLimitKiB = 10 << 10
)

// TestShareServiceWrangler runs the share conformance suite against the
// Worker in wrangler's local mode, checks that it serves the front end,
// that a share and mpmlab serve's share of the same experiment have one id
// and the same bytes, and that a share survives a restart.
func TestShareServiceWrangler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wrangler")
	}
	state := t.TempDir()
	d := sharetest.StartWrangler(t, ".", state)
	sharetest.Run(t, d.URL, sharetest.Options{Page: true})

	t.Run("front end", func(t *testing.T) {
		for _, f := range []struct{ path, ctype string }{
			{"/", "text/html"}, {"/app.wasm", "application/wasm"}, {"/wasm_exec.js", "javascript"}, {"/app.js", "javascript"},
		} {
			status, data, h := sharetest.Do(t, nil, "GET", d.URL+f.path, "", nil)
			want, err := os.ReadFile(filepath.Join("public", strings.TrimPrefix(f.path, "/")))
			if f.path == "/" {
				want, err = os.ReadFile("public/index.html")
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != 200 || !strings.Contains(h.Get("Content-Type"), f.ctype) || !bytes.Equal(data, want) {
				t.Errorf("GET %s: %d %s, %d bytes; want 200 %s with public%s's %d bytes", f.path, status, h.Get("Content-Type"), len(data), f.ctype, f.path, len(want))
			}
		}
	})

	t.Run("examples", func(t *testing.T) {
		status, data, h := sharetest.Do(t, nil, "GET", d.URL+"/api/examples", "", nil)
		want, _ := json.Marshal(playground.Examples())
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || !bytes.Equal(bytes.TrimSpace(data), want) {
			t.Fatalf("GET /api/examples: %d %s, %d bytes; want mpmlab serve's list (%d bytes)", status, h.Get("Content-Type"), len(data), len(want))
		}
	})

	e := sharetest.Experiment(fmt.Sprintf("one id on both hosts %d", time.Now().UnixNano()))
	id := sharetest.Post(t, nil, d.URL, e)
	t.Run("same as mpmlab serve", func(t *testing.T) {
		pg, err := playground.New(playground.Config{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		srv := httptest.NewServer(pg)
		defer srv.Close()
		if local := sharetest.Post(t, nil, srv.URL, e); local != id {
			t.Fatalf("mpmlab serve gave id %s, the share service %s", local, id)
		}
		_, a, _ := sharetest.Do(t, nil, "GET", srv.URL+"/api/shares/"+id, "", nil)
		_, b, _ := sharetest.Do(t, nil, "GET", d.URL+"/api/shares/"+id, "", nil)
		if !bytes.Equal(a, b) {
			t.Fatalf("GET /api/shares/%s differs:\nmpmlab serve: %s\nshare service: %s", id, a, b)
		}
	})

	t.Run("through mpmlab serve --share-service", func(t *testing.T) {
		pg, err := playground.New(playground.Config{DataDir: t.TempDir(), ShareService: d.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		local := httptest.NewServer(pg)
		defer local.Close()
		f := sharetest.Experiment(fmt.Sprintf("forwarded %d", time.Now().UnixNano()))
		f.Recording = sharetest.PostBlob(t, nil, local.URL, []byte(f.Source.Files[0].Data))
		body, _ := json.Marshal(f)
		status, data, _ := sharetest.Do(t, nil, "POST", local.URL+"/api/shares", "application/json", body)
		var res struct{ ID, URL, Base string }
		if status != 200 || json.Unmarshal(data, &res) != nil || res.ID != f.ShareID() || res.Base != d.URL {
			t.Fatalf("POST /api/shares through the local host: %d %s, want id %s on %s", status, data, f.ShareID(), d.URL)
		}
		status, data, _ = sharetest.Do(t, nil, "GET", d.URL+"/api/shares/"+res.ID, "", nil)
		if status != 200 || !bytes.Equal(data, append(f.Canonical(), '\n')) {
			t.Fatalf("the share service has no forwarded share: %d %s", status, data)
		}
		status, data, _ = sharetest.Do(t, nil, "GET", d.URL+"/api/blobs/"+f.Recording, "", nil)
		if status != 200 || string(data) != f.Source.Files[0].Data {
			t.Fatalf("the share service has no forwarded blob: %d %q", status, data)
		}
		// An oversized share is refused (413) before anything is sent.
		big := sharetest.Experiment("forwarded, too large")
		big.Source.Files[0].Data += strings.Repeat("/", 70<<10)
		body, _ = json.Marshal(big)
		if status, data, _ := sharetest.Do(t, nil, "POST", local.URL+"/api/shares", "application/json", body); status != 413 {
			t.Fatalf("an oversized share through the local host: %d %s, want 413", status, data)
		}
	})

	t.Run("survives a restart", func(t *testing.T) {
		d.Stop()
		d2 := sharetest.StartWrangler(t, ".", state)
		status, data, _ := sharetest.Do(t, nil, "GET", d2.URL+"/api/shares/"+id, "", nil)
		if status != 200 || !bytes.Equal(data, append(e.Canonical(), '\n')) {
			t.Fatalf("after a restart: GET /api/shares/%s: %d %s", id, status, data)
		}

		// Last, as it spends this client's writes: the WRITES limit (the
		// writes above count too, across the restart: at most writeLimit
		// in a minute pass).
		if toml, _ := os.ReadFile("wrangler.toml"); !bytes.Contains(toml, []byte(fmt.Sprintf("simple = { limit = %d, period = 60 }", writeLimit))) {
			t.Fatalf("wrangler.toml's WRITES limit is not %d a minute", writeLimit)
		}
		body, _ := json.Marshal(e)
		passed := map[int64]int{} // writes that passed, by the limiter's window (limiterWindow)
		for range 3 * writeLimit {
			sent := time.Now()
			status, data, h := sharetest.Do(t, nil, "POST", d2.URL+"/api/shares", "application/json", body)
			window, sure := limiterWindow(sent, time.Now())
			switch {
			case status == 200 && !sure:
			case status == 200 && passed[window] < writeLimit:
				passed[window]++
			case status == 429 && h.Get("Retry-After") != "" && bytes.Contains(data, []byte("too many shares")):
				if len(passed) > 1 {
					t.Logf("the writes straddled a minute's end: %v passed by window", passed)
				}
				return
			default:
				t.Fatalf("write of a client after %d passed in this minute: %d %s (Retry-After %q), want 200 up to the limit (%d a minute), then 429", passed[window], status, data, h.Get("Retry-After"), writeLimit)
			}
		}
		t.Fatalf("%d writes of one client passed with no 429; the limit is %d a minute", 3*writeLimit, writeLimit)
	})
}

// limiterWindow is the window of the WRITES limit that counted a write
// sent at sent and answered at answered. wrangler dev's limiter
// (miniflare's ratelimit-object.worker.js) counts in windows aligned to
// the wall clock, keyed by the minute since the epoch, so a test's writes
// may straddle two, and the second counts afresh; sure is false for a
// write whose minute ended before its answer, which either window may
// have counted.
func limiterWindow(sent, answered time.Time) (window int64, sure bool) {
	window = sent.Unix() / 60
	return window, answered.Unix()/60 == window
}

// writeLimit is the WRITES rate limit of wrangler.toml: writes per client
// address a minute.
const writeLimit = 30

// uploadSize is wrangler's report of the script it would upload.
var uploadSize = regexp.MustCompile(`Total Upload: ([0-9.]+) KiB / gzip: ([0-9.]+) KiB`)

// TestShareServiceBundleSize builds the deployable bundle (wrangler deploy
// --dry-run --outdir) and checks it against Workers' script size limit.
func TestShareServiceBundleSize(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrangler")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := sharetest.WranglerCmd(t, ctx, ".", "deploy", "--dry-run", "--outdir", out)
	said, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrangler deploy --dry-run: %v\n%s", err, said)
	}
	m := uploadSize.FindSubmatch(said)
	if m == nil {
		t.Fatalf("wrangler deploy --dry-run did not report its upload size:\n%s", said)
	}
	raw, _ := strconv.ParseFloat(string(m[1]), 64)
	gz, _ := strconv.ParseFloat(string(m[2]), 64)
	// The bundle in out must be what wrangler measured: the service's wasm
	// is most of it.
	var files int64
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !strings.HasSuffix(e.Name(), ".map") && e.Name() != "README.md" {
			files += info.Size()
		}
	}
	if kib := float64(files) / 1024; kib < raw*0.99 || kib > raw*1.01 {
		t.Errorf("the bundle in --outdir is %.0f KiB; wrangler reported %.0f KiB", kib, raw)
	}
	t.Logf("bundle: %.0f KiB, gzip %.0f KiB; Workers' limit %d KiB (free plan), %d KiB (paid)", raw, gz, freeScriptLimitKiB, paidScriptLimitKiB)
	if gz > freeScriptLimitKiB {
		t.Errorf("the bundle is %.0f KiB gzipped, over the free plan's %d KiB (the paid plan allows %d KiB)", gz, freeScriptLimitKiB, paidScriptLimitKiB)
	}
}

// TestShareDevMake runs `make share-dev` as a person would and waits for
// the line it promises, "listening on http://127.0.0.1:PORT", then asks
// the service for the front end.
func TestShareDevMake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wrangler")
	}
	sharetest.WranglerCmd(t, context.Background(), ".") // skips when wrangler is not installed
	port := sharetest.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "make", "-C", "../..", "share-dev", "SHARE_PORT="+strconv.Itoa(port), "SHARE_STATE="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	said := &sharetest.SyncBuffer{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(said, sc.Text())
			if sc.Text() == fmt.Sprintf("listening on http://127.0.0.1:%d", port) {
				close(ready)
			}
		}
	}()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("make share-dev exited before it was ready:\n%s", said.String())
	case <-time.After(sharetest.WranglerReadyTimeout + 2*time.Minute): // it may build first
		t.Fatalf("make share-dev printed no listening line:\n%s", said.String())
	}
	status, data, _ := sharetest.Do(t, nil, "GET", fmt.Sprintf("http://127.0.0.1:%d/app.wasm", port), "", nil)
	if status != 200 || !bytes.HasPrefix(data, []byte("\x00asm")) {
		t.Fatalf("GET /app.wasm after the listening line: %d, %d bytes", status, len(data))
	}
}
