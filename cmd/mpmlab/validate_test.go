package main

import (
	"strings"
	"testing"
)

// validate's own flags; measuring needs the real servers, which `make
// validate` runs, not the tests.
func TestValidateUsage(t *testing.T) {
	_, stderr, code := mpmlab(t, "validate", "--case", "prefork-close,nope")
	if code != exitUsage || !strings.Contains(stderr, `unknown case "nope"`) {
		t.Errorf("unknown case: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = mpmlab(t, "validate", "--pairs", "-1")
	if code != exitUsage {
		t.Errorf("--pairs -1: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = mpmlab(t, "validate", "--cost", "--case", "worker")
	if code != exitUsage || !strings.Contains(stderr, "--cost measures once") {
		t.Errorf("--cost --case: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = mpmlab(t, "validate", "--help")
	for _, want := range []string{"prefork-ramp", "libnginx-mod-http-lua", `{"cases": [...]}`, "--cost measures", `{"cost": [...]}`} {
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("--help: exit %d, lacks %q:\n%s", code, want, stderr)
		}
	}
}
