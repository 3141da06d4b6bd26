//go:build unix

package sharetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WranglerReadyTimeout bounds a wrangler dev start (a first start compiles
// the service's 11 MB of wasm in workerd).
const WranglerReadyTimeout = 90 * time.Second

// WranglerCmd returns a command running the pinned wrangler on the pinned
// Node.js of the share service in dir (cmd/mpmlab-share), or skips the test when they are not installed
// (it fails instead under CI, where make test installs them).
func WranglerCmd(t *testing.T, ctx context.Context, dir string, args ...string) *exec.Cmd {
	t.Helper()
	node, wrangler := "node_modules/.bin/node", "node_modules/wrangler/bin/wrangler.js"
	for _, f := range []string{node, wrangler} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing: make share-npm installs wrangler (make test does)", f)
			}
			t.Skipf("%s is missing: run make share-npm (make test does)", f)
		}
	}
	cmd := exec.CommandContext(ctx, node, append([]string{wrangler}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Wrangler is a running `wrangler dev --local` of the share service.
type Wrangler struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *SyncBuffer
}

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// StartWrangler starts wrangler dev for the share service in dir, with its
// local state in state, and waits for its "Ready on" line; the test's
// cleanup stops it.
func StartWrangler(t *testing.T, dir, state string) *Wrangler {
	t.Helper()
	port := FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := WranglerCmd(t, ctx, dir, "dev", "--local", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--inspector-port", strconv.Itoa(FreePort(t)), "--persist-to", state, "--show-interactive-dev-session=false")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	d := &Wrangler{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), out: &SyncBuffer{}}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(d.out, sc.Text())
			if strings.Contains(sc.Text(), "Ready on http://127.0.0.1:"+strconv.Itoa(port)) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-d.done
		if t.Failed() {
			t.Logf("wrangler dev said:\n%s", d.out.String())
		}
	})
	select {
	case <-ready:
	case <-d.done:
		t.Fatalf("wrangler dev exited before it was ready:\n%s", d.out.String())
	case <-time.After(WranglerReadyTimeout):
		t.Fatalf("wrangler dev not ready after %v:\n%s", WranglerReadyTimeout, d.out.String())
	}
	return d
}

// Stop ends the server and waits for it.
func (d *Wrangler) Stop() {
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}
