package experiment

import (
	"strings"
	"testing"
)

func TestEnvValidate(t *testing.T) {
	many := map[string]string{}
	for i := range MaxEnvVars + 1 {
		many[strings.Repeat("A", i+1)] = ""
	}
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{nil, ""},
		{map[string]string{"GREETING": "bonjour", "EMPTY": "", "lower_case.dots": "x=y"}, ""},
		{map[string]string{"": "x"}, "a variable has no name"},
		{map[string]string{"A=B": "x"}, `name "A=B": may not contain '=' or NUL`},
		{map[string]string{"A\x00": "x"}, `may not contain '=' or NUL`},
		{map[string]string{"A": "x\x00y"}, "A: the value may not contain NUL"},
		{map[string]string{"MPMLAB_MODEL": "thread"}, `names starting with MPMLAB_ are the host's`},
		{many, "65 variables; the limit is 64"},
		{map[string]string{"BIG": strings.Repeat("x", MaxEnvSize)}, "the limit is 8192 (8 KiB)"},
	}
	for _, tt := range tests {
		err := ValidateEnv(tt.env)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidateEnv(%q) = %v, want %q", tt.env, err, tt.wantErr)
		}
	}
}

func TestParseEnv(t *testing.T) {
	env, err := ParseEnv([]string{"A=1", "B=x=y", "A=2", "C="})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(EnvList(env), " "); got != "A=2 B=x=y C=" {
		t.Errorf("EnvList = %q", got)
	}
	if _, err := ParseEnv([]string{"NOVALUE"}); err == nil || !strings.Contains(err.Error(), `"NOVALUE": want NAME=value`) {
		t.Errorf("ParseEnv without '=': %v", err)
	}
	if _, err := ParseEnv([]string{"=x"}); err == nil {
		t.Error("ParseEnv accepted an empty name")
	}
}

// An experiment without env keeps the canonical form, and so the share id,
// it had before env existed; one with env is another experiment, and a
// bad env is refused naming the field.
func TestExperimentEnv(t *testing.T) {
	if strings.Contains(string(Experiment{}.Canonical()), `"env"`) {
		t.Fatalf("canonical form of an experiment without env mentions it: %s", Experiment{}.Canonical())
	}
	if string(Experiment{Env: map[string]string{}}.Canonical()) != string(Experiment{}.Canonical()) {
		t.Error("an empty env changes the canonical form")
	}
	src := Source{Files: []File{{Name: "main.go", Data: "package main\n"}}}
	a := Experiment{Source: src, Env: map[string]string{"B": "2", "A": "1"}}
	if !strings.Contains(string(a.Canonical()), `"env":{"A":"1","B":"2"}`) || a.ShareID() == (Experiment{Source: src}).ShareID() {
		t.Errorf("canonical form with env: %s", a.Canonical())
	}
	e, err := Unmarshal([]byte(`{"source":{"files":[{"name":"main.go","data":"package main\n"}]},"env":{"A=B":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), `env: name "A=B": may not contain '=' or NUL`) {
		t.Errorf("Validate with a bad env: %v", err)
	}
}
