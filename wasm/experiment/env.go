package experiment

import (
	"fmt"
	"sort"
	"strings"
)

// Limits of an experiment's environment (Experiment.Env, --env).
const (
	// MaxEnvVars is the most variables an experiment may set.
	MaxEnvVars = 64
	// MaxEnvSize is the most bytes of "NAME=value" in all.
	MaxEnvSize = 8 << 10
	// reservedEnvPrefix starts the names the host sets for the SDK
	// (MPMLAB_MODEL, MPMLAB_PROCESS...): guest.Worker depends on them.
	reservedEnvPrefix = "MPMLAB_"
)

// ValidateEnv checks an environment: at most MaxEnvVars variables and
// MaxEnvSize bytes; each name non-empty, without '=' or NUL, and not
// starting with MPMLAB_ (the host's own); each value without NUL.
func ValidateEnv(env map[string]string) error {
	if len(env) > MaxEnvVars {
		return fmt.Errorf("%d variables; the limit is %d", len(env), MaxEnvVars)
	}
	size := 0
	for _, name := range sortedNames(env) {
		value := env[name]
		size += len(name) + 1 + len(value)
		switch {
		case name == "":
			return fmt.Errorf("a variable has no name")
		case strings.ContainsAny(name, "=\x00"):
			return fmt.Errorf("name %q: may not contain '=' or NUL", name)
		case strings.HasPrefix(name, reservedEnvPrefix):
			return fmt.Errorf("name %q: names starting with %s are the host's", name, reservedEnvPrefix)
		case strings.ContainsRune(value, 0):
			return fmt.Errorf("%s: the value may not contain NUL", name)
		}
	}
	if size > MaxEnvSize {
		return fmt.Errorf("%d bytes; the limit is %d (%d KiB)", size, MaxEnvSize, MaxEnvSize>>10)
	}
	return nil
}

// ParseEnv turns "NAME=value" strings (the CLI's --env) into an
// environment and validates it. A later NAME wins over an earlier one.
func ParseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want NAME=value", kv)
		}
		env[name] = value
	}
	return env, ValidateEnv(env)
}

// EnvList returns env as "NAME=value" strings sorted by name, the form a
// process's environment takes.
func EnvList(env map[string]string) []string {
	var list []string
	for _, name := range sortedNames(env) {
		list = append(list, name+"="+env[name])
	}
	return list
}

func sortedNames(env map[string]string) []string {
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
