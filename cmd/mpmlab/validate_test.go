package main

import (
	"encoding/json"
	"regexp"
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
	_, stderr, code = mpmlab(t, "validate", "--duration", "2s")
	if code != exitUsage || !strings.Contains(stderr, "--duration is --cost's") {
		t.Errorf("--duration without --cost: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = mpmlab(t, "validate", "--cost", "--duration", "1h")
	if code != exitUsage {
		t.Errorf("--cost --duration 1h: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = mpmlab(t, "validate", "--help")
	for _, want := range []string{"prefork-ramp", "libnginx-mod-http-lua", `{"cases": [...]}`, "--cost measures", `{"cost": [...]}`} {
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("--help: exit %d, lacks %q:\n%s", code, want, stderr)
		}
	}
}

// validate --cost measures every row's model side, and the real side of
// those whose server is installed (the others are skipped, naming the
// Debian packages): one short run, figures checked for presence, not
// size, since the machine may be busy.
func TestValidateCost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every model and the installed real servers")
	}
	stdout, stderr, code := mpmlab(t, "validate", "--cost", "--json", "--duration", "1s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var got struct {
		Cost []struct {
			Name, Real, Model, Unit      string
			RealValue                    float64 `json:"real_value"`
			ModelValue                   float64 `json:"model_value"`
			ModelDetail                  string  `json:"model_detail"`
			Ratio                        float64
			Target, Note, Skipped, Error string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	want := []string{"cpu-prefork", "cpu-worker", "cpu-event", "cpu-loop", "memory-process", "memory-connection", "p50-reactor", "p50-process"}
	if len(got.Cost) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(got.Cost), len(want), stdout)
	}
	for i, r := range got.Cost {
		if r.Name != want[i] || r.Error != "" || r.ModelValue <= 0 || r.Target == "" || r.Note == "" {
			t.Errorf("row %d, want %s: %+v", i, want[i], r)
			continue
		}
		switch {
		case r.Skipped != "":
			if !strings.Contains(r.Skipped, "apt-get install") {
				t.Errorf("%s: skipped without the packages to install: %q", r.Name, r.Skipped)
			}
		case r.RealValue <= 0 || r.Ratio <= 0:
			t.Errorf("%s: real %v, ratio %v", r.Name, r.RealValue, r.Ratio)
		}
		if r.Name == "memory-connection" && !regexp.MustCompile(`\(\d+ connections: RSS`).MatchString(r.ModelDetail) {
			t.Errorf("%s: model detail %q", r.Name, r.ModelDetail)
		}
		// The loop parks its idle connections (models/park.go): 1.7 to 2.1
		// KB each measured, where a goroutine each cost 20 KB.
		if r.Name == "memory-connection" && r.ModelValue > 8000 {
			t.Errorf("%s: the loop holds %.0f B per idle connection, want under 8,000 (idle connections parked)", r.Name, r.ModelValue)
		}
	}
	t.Logf("%s", stdout)
}
