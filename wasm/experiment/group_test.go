package experiment

import (
	"strings"
	"testing"
)

// A load without groups encodes as it did before groups existed, so the
// links shared then keep their ids.
func TestLoadWithoutGroupsKeepsItsCanonicalForm(t *testing.T) {
	got := string(Experiment{}.Canonical())
	const want = `"load":{"path":"/","method":"GET","concurrency":10,"requests":200,"duration_ms":0,"keepalive":true,"rate":0,"think_ms":0}}`
	if !strings.HasSuffix(got, want) {
		t.Fatalf("canonical = %s\nwant it to end in %s", got, want)
	}
}

func TestLoadGroupsNormalize(t *testing.T) {
	e, err := Unmarshal([]byte(`{"load": {"groups": [
		{"name": "fast", "path": "/hello", "concurrency": 10},
		{"path": "/?ms=200", "method": "post", "rate": 2, "concurrency": 4}],
		"duration_ms": 8000}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Normalize().Load.Validate(); err != nil {
		t.Fatal(err)
	}
	l := e.Normalize().Load
	if l.Requests != 0 || l.DurationMS != 8000 || l.Path != "" || l.Concurrency != 0 {
		t.Errorf("whole load = %+v: want only its duration, no request of its own", l)
	}
	g := l.Traffic()
	if len(g) != 2 || g[0].Name != "fast" || g[1].Name != "POST /?ms=200" {
		t.Fatalf("groups = %+v, want fast and the default name POST /?ms=200", g)
	}
	if g[1].Method != "POST" || !On(g[1].KeepAlive) || g[0].Method != "GET" {
		t.Errorf("groups not normalized: %+v", g)
	}
	// Normalizing is idempotent: the canonical form (the share id) is stable.
	if a, b := string(e.Canonical()), string(e.Normalize().Canonical()); a != b {
		t.Errorf("canonical form changes when normalized twice:\n%s\n%s", a, b)
	}

	// No bound anywhere: the whole load gets the default.
	n := Load{Groups: []Group{{Name: "a"}, {Name: "b", Load: Load{Requests: 5}}}}.Normalize()
	if n.Requests != DefaultRequests {
		t.Errorf("unbounded load of groups: requests = %d, want %d", n.Requests, DefaultRequests)
	}
	// Without groups, the load is one group named by its request.
	if g := (Load{Path: "/x"}).Normalize().Traffic(); len(g) != 1 || g[0].Name != "GET /x" || g[0].Concurrency != DefaultConcurrency {
		t.Errorf("Traffic of a load without groups = %+v", g)
	}
}

func TestLoadGroupsValidate(t *testing.T) {
	for _, tc := range []struct {
		json, want string
	}{
		{`{"groups": [{"name": "a"}, {"name": "a"}]}`, `load.groups[1].name "a": load.groups[0] has it too`},
		{`{"groups": [{"path": "/"}, {"path": "/"}]}`, `load.groups[1].name "GET /"`},
		{`{"path": "/x", "groups": [{"name": "a"}]}`, `a load with groups sets path`},
		{`{"groups": [{"name": "a", "rate": -1}]}`, `load.groups[0].rate -1 out of range`},
		{`{"groups": [{"name": "a", "groups": [{"name": "b"}]}]}`, `load.groups[0].groups: groups do not nest`},
		{`{"groups": [{"name": "a", "concurrency": 150}, {"name": "b", "concurrency": 100}]}`, `250 clients in all send as fast as they are answered`},
		{`{"groups": [{"name": "a", "concurrency": 6000, "think_ms": 2000}, {"name": "b", "concurrency": 5000, "rate": 10}]}`, `11000 clients in all (the sum of each group's concurrency); the limit is 10000`},
		{`{"groups": [{"name": "a", "headers": {"Bad Name": "x"}}]}`, `load.groups[0].headers: "Bad Name"`},
		{`{"groups": [{"name": "a", "headers": {"X-A": "x\r\nInjected: 1"}}]}`, `load.groups[0].headers: "X-A"`},
		{`{"groups": [{"name": "a"}], "duration_ms": -1}`, `load.duration_ms -1`},
		{`{"headers": {"": "x"}}`, `load.headers`},
	} {
		e, err := Unmarshal([]byte(`{"load": ` + tc.json + `}`))
		if err == nil {
			err = e.Normalize().Load.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
	var many []string
	for i := range MaxGroups + 1 {
		many = append(many, `{"name": "g`+string(rune('a'+i))+`", "concurrency": 1}`)
	}
	e, _ := Unmarshal([]byte(`{"load": {"groups": [` + strings.Join(many, ",") + `]}}`))
	if err := e.Normalize().Load.Validate(); err == nil || !strings.Contains(err.Error(), "the limit is 8") {
		t.Errorf("%d groups: Validate = %v, want the limit", MaxGroups+1, err)
	}
}
