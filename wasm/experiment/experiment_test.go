package experiment

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sample() Experiment {
	return Experiment{
		Source: Source{Files: []File{
			{Name: "util.go", Data: "package main\n"},
			{Name: "main.go", Data: "package main\n\nfunc main() {} // <&> ünïcode\n"},
		}},
		Model: "all",
		Knobs: Knobs{StartServers: 2, KeepAlive: Bool(false), MaxKeepAliveRequests: Int(0)},
		Load:  Load{Path: "/?ms=300", Method: "post", Concurrency: 7, DurationMS: 1500, Rate: 12.5, KeepAlive: Bool(false)},
	}
}

func TestShareFragmentRoundTrip(t *testing.T) {
	e := sample()
	frag := e.EncodeFragment()
	got, err := DecodeFragment("#x=" + frag)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e.Normalize()) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e.Normalize())
	}
	if !bytes.Equal(got.Canonical(), e.Canonical()) || got.ShareID() != e.ShareID() {
		t.Fatal("canonical form or id changed in a round trip")
	}
	if got.Load.KeepAlive == nil || *got.Load.KeepAlive || *got.Knobs.KeepAlive {
		t.Fatal("keepalive false lost")
	}
	for _, bad := range []string{"!!!", "AAAA", ""} {
		if _, err := DecodeFragment(bad); err == nil {
			t.Errorf("DecodeFragment(%q): no error", bad)
		}
	}
}

func TestShareIDCanonical(t *testing.T) {
	a := sample()
	b := sample()
	b.Source.Files[0], b.Source.Files[1] = b.Source.Files[1], b.Source.Files[0]
	b.Knobs.MaxRequestWorkers = DefaultMaxRequestWorkers // a default written out
	b.Load.Method = "POST"
	if a.ShareID() != b.ShareID() {
		t.Fatalf("same experiment, ids %s and %s", a.ShareID(), b.ShareID())
	}
	if !IsShareID(a.ShareID()) {
		t.Fatalf("bad id %q", a.ShareID())
	}
	b.Load.Concurrency++
	if a.ShareID() == b.ShareID() {
		t.Fatal("different experiments, same id")
	}
	var z Experiment
	if !strings.HasPrefix(string(z.Canonical()), `{"source":{"files":[]},"model":"reactor","knobs":{"start_servers":4,`) {
		t.Fatalf("canonical = %s", z.Canonical())
	}
}

func TestPlaygroundValidate(t *testing.T) {
	ok := sample()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*Experiment)
		want string
	}{
		{"model", func(e *Experiment) { e.Model = "fork" }, "model"},
		{"loops", func(e *Experiment) { e.Knobs.Loops = 99 }, "knobs.loops 99 out of range 1..16"},
		{"spare", func(e *Experiment) { e.Knobs.MinSpare, e.Knobs.MaxSpare = 5, 3 }, "knobs.min_spare"},
		{"conc", func(e *Experiment) { e.Load.Concurrency = MaxClients + 1 }, "load.concurrency 10001 out of range 1..10000"},
		{"conc unbound", func(e *Experiment) { e.Load.Concurrency, e.Load.Rate = 201, 0 },
			"load.concurrency 201: past 200 clients, a closed loop must bound what its clients send: think_ms at least 41"},
		{"conc thinks too little", func(e *Experiment) { e.Load.Concurrency, e.Load.ThinkMS, e.Load.Rate = MaxClients, 1999, 0 }, "think_ms at least 2000"},
		{"requests", func(e *Experiment) { e.Load.Requests = -1 }, "load.requests"},
		{"duration", func(e *Experiment) { e.Load.DurationMS = 60001 }, "load.duration_ms"},
		{"rate", func(e *Experiment) { e.Load.Rate = 1e6 }, "load.rate"},
		{"open loop too long", func(e *Experiment) { e.Load.DurationMS, e.Load.Requests, e.Load.Rate = 0, 20000, 10 }, "the limit is 60 s"},
		{"path", func(e *Experiment) { e.Load.Path = "http://x/" }, "load.path"},
		{"path escape", func(e *Experiment) { e.Load.Path = "/%zz" }, `load.path "/%zz": invalid URL escape`},
		{"path NUL", func(e *Experiment) { e.Load.Path = "/\x00" }, "control characters"},
		{"path DEL", func(e *Experiment) { e.Load.Path = "/a\x7fb" }, "control characters"},
		{"path space", func(e *Experiment) { e.Load.Path = "/a b" }, "no spaces"},
		{"method", func(e *Experiment) { e.Load.Method = "BREW" }, "load.method"},
		{"threads", func(e *Experiment) { e.Knobs.Processes, e.Knobs.ThreadsPerChild = 64, 64 },
			"knobs.processes 64 × knobs.threads_per_child 64 = 4096 guest instances; the limit is 128"},
		{"threads, any model", func(e *Experiment) { e.Model, e.Knobs.Processes, e.Knobs.ThreadsPerChild = "process", 3, 43 },
			"knobs.processes 3 × knobs.threads_per_child 43 = 129 guest instances; the limit is 128"},
		{"memory", func(e *Experiment) { e.Knobs.MemoryLimitMB = 4096 }, "knobs.memory_limit_mb 4096 out of range 16..1024"},
		{"no files", func(e *Experiment) { e.Source.Files = nil }, "source.files"},
		{"file name", func(e *Experiment) { e.Source.Files[0].Name = "../x.go" }, "source.files"},
		{"size", func(e *Experiment) { e.Source.Files[0].Data = strings.Repeat("x", MaxSourceSize) }, "the limit is 65536 (64 KiB)"},
	}
	for _, c := range cases {
		e := sample()
		c.mod(&e)
		err := e.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// Many clients, with the rate they send bounded.
	for _, l := range []Load{
		{Concurrency: MaxConcurrency},
		{Concurrency: MaxClients, ThinkMS: 2000},
		{Concurrency: MaxClients, Rate: MaxRate},
		{Groups: []Group{{Name: "a", Load: Load{Concurrency: MaxConcurrency}}, {Name: "b", Load: Load{Concurrency: MaxClients - MaxConcurrency, ThinkMS: 2000}}}},
	} {
		e := sample()
		e.Load = l
		if err := e.Normalize().Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	// At the limits.
	e := sample()
	e.Knobs.Processes, e.Knobs.ThreadsPerChild, e.Knobs.MemoryLimitMB = 2, 64, MaxMemoryMB
	e.Knobs.MaxRequestWorkers, e.Knobs.Loops = MaxProcesses, MaxLoops
	e.Load.Path = "/a/%C3%A9?x=1&y=%20"
	if err := e.Validate(); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if n := e.Normalize().Knobs.Instances("thread"); n != 128 {
		t.Errorf("thread instances = %d, want 128", n)
	}
	e = sample()
	e.Source.Files[0].Data = strings.Repeat("x", MaxSourceSize)
	var se *SizeError
	if !errors.As(e.Validate(), &se) {
		t.Error("oversized source: not a *SizeError")
	}
}

func TestPlaygroundUnmarshalStrict(t *testing.T) {
	if _, err := Unmarshal([]byte(`{"load":{"concurency":3}}`)); err == nil || !strings.Contains(err.Error(), "concurency") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := Unmarshal([]byte(`{"load":{"concurrency":"x"}}`)); err == nil || !strings.Contains(err.Error(), "load.concurrency") {
		t.Fatalf("wrong type: %v", err)
	}
	if _, err := Unmarshal([]byte(`{} {}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
	if _, err := Unmarshal(sample().Canonical()); err != nil {
		t.Fatal(err)
	}
}

// Every knob of Knobs has one row in KnobTable, and every row a field:
// the table is the one definition the CLI, the API and the form derive.
func TestKnobTableCoversKnobs(t *testing.T) {
	seen := map[string]int{}
	for i := range KnobTable {
		k := &KnobTable[i]
		seen[k.Name]++
		var ks Knobs
		switch {
		case k.Unit == Switch && k.On(&ks) == nil, k.Optional() && k.Opt(&ks) == nil, k.Unit != Switch && !k.Optional() && k.Int(&ks) == nil:
			t.Errorf("knob %s has no field", k.Name)
		}
		if k.Flag == "" || k.Help == "" || k.Max < k.Min && k.Unit != Switch {
			t.Errorf("knob %s: flag %q, help %q, range %d..%d", k.Name, k.Flag, k.Help, k.Min, k.Max)
		}
	}
	ty := reflect.TypeOf(Knobs{})
	for i := range ty.NumField() {
		name := strings.Split(ty.Field(i).Tag.Get("json"), ",")[0]
		if seen[name] != 1 {
			t.Errorf("Knobs.%s (%q) has %d rows in KnobTable, want 1", ty.Field(i).Name, name, seen[name])
		}
		delete(seen, name)
	}
	for name := range seen {
		t.Errorf("KnobTable row %q has no Knobs field", name)
	}
	// Defaults fill every zero, and the defaults validate.
	k := Knobs{}.Normalize()
	for i := range KnobTable {
		if p := KnobTable[i].Int(&k); p != nil && *p == 0 {
			t.Errorf("knob %s has no default", KnobTable[i].Name)
		}
	}
	if err := k.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	if err := k.ValidateFlags(); err != nil {
		t.Errorf("the defaults do not validate as flags: %v", err)
	}
}

// knobs.max_keepalive_requests means what Apache's MaxKeepAliveRequests and
// the CLI's flag mean: 0 is unlimited; absent is the default, 100. The old
// spelling of unlimited, -1, still reads as unlimited.
func TestMaxKeepAliveRequests(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int
	}{
		{`{}`, DefaultMaxKeepAlive},
		{`{"knobs":{}}`, DefaultMaxKeepAlive},
		{`{"knobs":{"max_keepalive_requests":0}}`, 0},
		{`{"knobs":{"max_keepalive_requests":-1}}`, 0},
		{`{"knobs":{"max_keepalive_requests":7}}`, 7},
	} {
		e, err := Unmarshal([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		n := e.Normalize()
		if got := *n.Knobs.MaxKeepAliveRequests; got != tc.want {
			t.Errorf("%s: max_keepalive_requests %d, want %d", tc.json, got, tc.want)
		}
		if err := n.Knobs.Validate(); err != nil {
			t.Errorf("%s: %v", tc.json, err)
		}
	}
	bad := Knobs{MaxKeepAliveRequests: Int(-2)}.Normalize()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "knobs.max_keepalive_requests -2 out of range 0..1000000") {
		t.Errorf("max_keepalive_requests -2: %v", err)
	}
}
