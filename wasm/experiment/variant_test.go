package experiment

import (
	"strings"
	"testing"
)

func TestVariantApply(t *testing.T) {
	e, err := Unmarshal([]byte(`{"model": "all", "knobs": {"loops": 1, "timeout_ms": 2000},
		"load": {"groups": [{"name": "fast", "path": "/hello"}, {"name": "slow", "path": "/?ms=200"}]},
		"variants": [
			{"model": "thread", "knobs": {"processes": 1, "threads_per_child": 16}},
			{"name": "reactor + pool", "model": "reactor", "paths": {"slow": "/?ms=200&pool=1"}},
			{"name": "reactor × 2 loops", "model": "reactor", "knobs": {"loops": 2}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Source = Source{Files: []File{{Name: "main.go", Data: "package main\n"}}}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	n := e.Normalize()
	if n.Variants[0].Name != "thread" {
		t.Errorf("an unnamed variant is named %q, want its model", n.Variants[0].Name)
	}
	thread, err := n.Apply(n.Variants[0])
	if err != nil {
		t.Fatal(err)
	}
	if thread.Model != "thread" || thread.Knobs.ThreadsPerChild != 16 || thread.Knobs.TimeoutMS != 2000 || thread.Variants != nil {
		t.Errorf("thread variant: model %s, threads %d, timeout %d: want thread, 16, the experiment's 2000", thread.Model, thread.Knobs.ThreadsPerChild, thread.Knobs.TimeoutMS)
	}
	pool, _ := n.Apply(n.Variants[1])
	if g := pool.Load.Traffic(); g[0].Path != "/hello" || g[1].Path != "/?ms=200&pool=1" {
		t.Errorf("pool variant's groups: %+v", g)
	}
	if g := n.Load.Traffic(); g[1].Path != "/?ms=200" {
		t.Errorf("applying a variant changed the experiment's own load: %+v", g)
	}
	loops, _ := n.Apply(n.Variants[2])
	if loops.Knobs.Loops != 2 {
		t.Errorf("loops variant: loops %d, want 2", loops.Knobs.Loops)
	}

	for _, tc := range []struct{ variants, want string }{
		{`[{"model": "all"}]`, `variants[0].model "all"`},
		{`[{"model": "thread"}, {"model": "thread"}]`, `variants[1].name "thread": variants[0] has it too`},
		{`[{"model": "reactor", "knobs": {"loopz": 2}}]`, `variants[0].knobs: json: unknown field "loopz"`},
		{`[{"model": "reactor", "knobs": {"loops": 99}}]`, `variants[0].knobs.loops 99 out of range`},
		{`[{"model": "reactor", "paths": {"nobody": "/"}}]`, `variants[0].paths: the load has no group "nobody"`},
		{`[{"model": "reactor", "paths": {"slow": "no slash"}}]`, `variants[0].load.groups[1].path`},
	} {
		e, err := Unmarshal([]byte(`{"model": "all", "load": {"groups": [{"name": "fast"}, {"name": "slow"}]}, "variants": ` + tc.variants + `}`))
		if err == nil {
			e.Source = Source{Files: []File{{Name: "main.go", Data: "package main\n"}}}
			err = e.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.variants, err, tc.want)
		}
	}
	// No variants: the canonical form is as before variants existed.
	if strings.Contains(string(Experiment{}.Canonical()), "variants") {
		t.Error("an experiment without variants encodes them")
	}
}

// A single model's run does not use the variants: they are checked when
// the experiment compares.
func TestVariantsCheckedOnlyWhenComparing(t *testing.T) {
	e, err := Unmarshal([]byte(`{"model": "reactor", "load": {"path": "/"}, "variants": [{"model": "reactor", "paths": {"gone": "/"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Source = Source{Files: []File{{Name: "main.go", Data: "package main\n"}}}
	if err := e.Validate(); err != nil {
		t.Errorf("a reactor run with a stale variant: %v", err)
	}
	e.Model = "all"
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), `no group "gone"`) {
		t.Errorf("Compare with a stale variant: %v, want the error", err)
	}
}
