package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeSaysWhatItBuilds: each go build of `make build` (and so `make
// run`) lists the packages it compiles, and is announced by a line saying
// what it builds and that a first build takes a while: on a fresh clone
// they take tens of seconds.
func TestMakeSaysWhatItBuilds(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-n", "-B", "build") // prints the commands, runs none
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n -B build: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	builds := 0
	for i, line := range lines {
		if !strings.Contains(line, "go build ") {
			continue
		}
		builds++
		if !strings.Contains(line, " -v ") {
			t.Errorf("%q does not list the packages it compiles (-v)", line)
		}
		var said []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "echo "); j-- {
			said = append(said, lines[j])
		}
		if words := strings.Join(said, " "); !strings.Contains(words, "building ") || !strings.Contains(words, "first build") {
			t.Errorf("%q is not announced with what it builds and that a first build takes a while; before it: %q", line, said)
		}
	}
	if builds != 2 {
		t.Errorf("make build runs %d go builds, want 2 (the front end, the binary):\n%s", builds, out)
	}
}
