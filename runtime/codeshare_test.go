//go:build linux && (amd64 || arm64)

package runtime

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// With SharePages, the machine code a compile loads is mapped from files of
// its bytes, which a second engine (another worker) maps again rather than
// copying; a damaged file is never run.
//
// The test runs in a process of its own, as a worker would: wazero unmaps
// code from finalizers, so the garbage of other tests could unmap code
// while a compile looks for the mappings it made (see shareCode).
func TestShareCode(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	dir := t.TempDir()
	code := filepath.Join(dir, codeDir)
	compile, runs := emptyGuests(t, dir)

	if err := compile(false).CodeShared(); err == nil {
		t.Error("CodeShared = nil without SharePages")
	}
	if err := compile(true).CodeShared(); err != nil {
		t.Fatal(err)
	}
	files := codeFiles(t, code)
	if len(files) == 0 {
		t.Fatalf("no code files in %s", code)
	}
	largest := files[0]
	for _, f := range files {
		if f.size > largest.size {
			largest = f
		}
	}
	if n := mappedTimes(t, largest.ino); n != 1 {
		t.Errorf("%s mapped %d times, want 1", largest.path, n)
	}

	// A second engine maps the same file, and runs it.
	m := compile(true)
	if err := m.CodeShared(); err != nil {
		t.Fatal(err)
	}
	if n := mappedTimes(t, largest.ino); n != 2 {
		t.Errorf("%s mapped %d times after a second compile, want 2", largest.path, n)
	}
	runs(m)

	// Damaged files (replaced by a rename, as any change must be: those who
	// map them keep theirs) are not mapped.
	damaged := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(f.path+".bad", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".bad", f.path); err != nil {
			t.Fatal(err)
		}
		damaged[f.path] = b
	}
	m = compile(true)
	if err := m.CodeShared(); err != nil {
		t.Fatal(err)
	}
	// The files mapped now (those mapped before were replaced: "(deleted)").
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || !strings.HasPrefix(f[5], code) {
			continue
		}
		b, err := os.ReadFile(f[5])
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(b, damaged[f[5]]) {
			t.Errorf("damaged %s is mapped", f[5])
		}
	}
	runs(m)
}

type codeFile struct {
	path string
	size int64
	ino  uint64
}

// codeFiles lists the files in dir.
func codeFiles(t *testing.T, dir string) []codeFile {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []codeFile
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		files = append(files, codeFile{path, st.Size, st.Ino})
	}
	return files
}

// mappedTimes counts the mappings of the file with inode ino in
// /proc/self/maps; each must be read and execute.
func mappedTimes(t *testing.T, ino uint64) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(maps), "\n") {
		// 7f3f5acd6000-7f3f5c000000 r-xp 00000000 fe:00 10069954 /path
		f := strings.Fields(line)
		if len(f) < 6 || f[4] != strconv.FormatUint(ino, 10) {
			continue
		}
		if f[1] != "r-xp" {
			t.Errorf("mapped as %q", line)
		}
		n++
	}
	return n
}

func TestSubtract(t *testing.T) {
	for _, c := range []struct {
		a, b, want []span
	}{
		{[]span{{0, 10}}, nil, []span{{0, 10}}},
		{[]span{{0, 10}}, []span{{0, 10}}, nil},
		{[]span{{0, 10}}, []span{{2, 4}, {6, 8}}, []span{{0, 2}, {4, 6}, {8, 10}}},
		{[]span{{0, 10}, {20, 30}}, []span{{5, 25}}, []span{{0, 5}, {25, 30}}},
		{[]span{{10, 20}}, []span{{0, 10}, {20, 30}}, []span{{10, 20}}},
	} {
		got := subtract(c.a, c.b)
		if len(got) != len(c.want) {
			t.Errorf("subtract(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("subtract(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
				break
			}
		}
	}
}

// DropCodePages unmaps the shared machine code's pages from the process,
// which maps them again when the code runs; a module whose code is a
// private copy keeps it (dropping it would zero the code). In a process of
// its own, as TestShareCode.
func TestDropCodePages(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	dir := t.TempDir()
	code := filepath.Join(dir, codeDir)
	compile, runs := emptyGuests(t, dir)

	// A private copy is left alone.
	m := compile(false)
	runs(m)
	if err := m.DropCodePages(); err != nil {
		t.Fatal(err)
	}
	runs(m)

	m = compile(true)
	runs(m)
	if kb := residentKB(t, code); kb == 0 {
		t.Fatal("no page of the shared code is resident after the guest ran")
	}
	if err := m.DropCodePages(); err != nil {
		t.Fatal(err)
	}
	if kb := residentKB(t, code); kb != 0 {
		t.Errorf("%d KiB of shared code resident after DropCodePages, want 0", kb)
	}
	runs(m)
	if kb := residentKB(t, code); kb == 0 {
		t.Error("the guest ran again without mapping its code again")
	}
}

// inOwnProcess runs the calling test again in a process of its own and
// reports true in the parent, whose work that is; in the child it reports
// false. wazero unmaps code from finalizers, so in a process shared with
// other tests their garbage could unmap code while a compile looks for the
// mappings it made (see shareCode), or a mapping a test looks at.
func inOwnProcess(t *testing.T) bool {
	t.Helper()
	const env = "MPMLAB_TEST_OWN_PROCESS"
	if os.Getenv(env) == t.Name() {
		return false
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the test's process: %v\n%s", err, out)
	}
	return true
}

// emptyGuests returns a compile of emptyGuest with a cache in dir, with
// or without SharePages, and a run of a compiled one to its end (exit 0).
// The engines are never closed nor the modules let go: wazero would unmap
// their code, which the tests look for in /proc/self/maps, and the next
// compile might map its own code at the same place.
func emptyGuests(t *testing.T, dir string) (compile func(share bool) *Module, runs func(*Module)) {
	ctx := context.Background()
	var keep []*Module
	t.Cleanup(func() { goruntime.KeepAlive(keep) })
	compile = func(share bool) *Module {
		t.Helper()
		e, err := NewEngine(ctx, EngineConfig{CacheDir: dir, SharePages: share})
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.Compile(ctx, emptyGuest)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, m)
		return m
	}
	runs = func(m *Module) {
		t.Helper()
		inst, err := m.Start(ctx, InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		<-inst.Done()
		if err := inst.Err(); err.(*ExitError).Code != 0 {
			t.Fatalf("the guest: %v", err)
		}
	}
	return compile, runs
}

// residentKB sums the resident KiB of the process's mappings of files in dir.
func residentKB(t *testing.T, dir string) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	kb, in := 0, false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = len(f) == 6 && strings.HasPrefix(f[5], dir+"/")
		case in && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			kb += n
		}
	}
	return kb
}
