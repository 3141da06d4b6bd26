package validate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A search path without the servers skips every case, naming the Debian
// packages, and starts nothing: not even the model (Mpmlab does not
// exist).
func TestRunServerMissing(t *testing.T) {
	empty := t.TempDir()
	results, err := Run(context.Background(), Options{Mpmlab: filepath.Join(empty, "no-mpmlab"), Path: empty})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Cases) {
		t.Fatalf("%d results, want %d", len(results), len(Cases))
	}
	for _, r := range results {
		want := "apt-get install apache2"
		if strings.HasPrefix(r.Name, "nginx") {
			want = "apt-get install nginx libnginx-mod-http-lua"
		}
		if !strings.Contains(r.Skipped, want) || r.Failed() || r.Verdict() != "skipped" || r.Pairs != nil {
			t.Errorf("%s: skipped %q, failed %v, verdict %q, pairs %v; want skipped naming %q",
				r.Name, r.Skipped, r.Failed(), r.Verdict(), r.Pairs, want)
		}
	}
}

// find looks only on the path it is given: a PATH with nginx but not
// apache2 finds the one and reports the other missing.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nginx"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "apache2"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + string(filepath.ListSeparator) + dir

	_, err := find(CaseNamed("event"), path)
	var missing *MissingError
	if !errors.As(err, &missing) || !slices.Equal(missing.Packages, []string{"apache2"}) || !strings.HasPrefix(missing.What, "apache2") {
		t.Errorf("apache2 not executable: %v, want it missing", err)
	}

	bin, err := find(CaseNamed("nginx-sleep"), path)
	if _, modErr := os.Stat(nginxModules + "/ngx_http_lua_module.so"); modErr != nil {
		// No Lua module on this machine: that is reported instead.
		if !errors.As(err, &missing) || missing.What != nginxModules+"/ngx_http_lua_module.so" && missing.What != nginxModules+"/ndk_http_module.so" {
			t.Errorf("nginx without its Lua module: %v", err)
		}
		return
	}
	if err != nil || bin != filepath.Join(dir, "nginx") {
		t.Errorf("find nginx = %q, %v; want %s", bin, err, filepath.Join(dir, "nginx"))
	}
}

// The real servers' configurations are written from the case's knobs,
// every default filled in.
func TestWriteConfig(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"prefork-close", []string{"mod_mpm_prefork.so", "StartServers        8\n", "MinSpareServers     2\n",
			"MaxSpareServers     8\n", "MaxRequestWorkers   8\n", `block.lua"`}},
		{"prefork-ramp", []string{"StartServers        2\n", "MinSpareServers     2\n", "MaxSpareServers     6\n", "MaxRequestWorkers   8\n"}},
		{"worker", []string{"mod_mpm_worker.so", "ServerLimit         2\n", "ThreadsPerChild     4\n", "MaxRequestWorkers   8\n"}},
		{"event", []string{"mod_mpm_event.so", "MaxRequestWorkers   8\n", "AsyncRequestWorkerFactor 2\n"}},
		{"event-keepalive", []string{"mod_mpm_event.so", "ServerLimit         2\n", "ThreadsPerChild     4\n", "AsyncRequestWorkerFactor 2\n"}},
		{"nginx-sleep", []string{"worker_processes 1;", "worker_connections 514;", "worker_rlimit_nofile 576;", "keepalive_timeout 5000ms;",
			"keepalive_requests 100;", "backlog=511;", "/sleep.lua;"}},
		{"nginx-block", []string{"/block.lua;"}},
	}
	cost := costCases(IdleConnections)
	tests = append(tests, []struct {
		name string
		want []string
	}{
		{"cost-process", []string{"mod_mpm_prefork.so", "MaxRequestWorkers   8\n", `hello.lua"`}},
		{"cost-thread", []string{"mod_mpm_worker.so", "ServerLimit         1\n", "ThreadsPerChild     8\n"}},
		{"cost-event", []string{"mod_mpm_event.so", "ServerLimit         1\n", "ThreadsPerChild     8\n"}},
		// The idle connections: 10,000 clients, its listening socket and
		// its channel to the master; kept open 60 s.
		{"cost-reactor", []string{"worker_connections 10002;", "worker_rlimit_nofile 10064;", "keepalive_timeout 60000ms;", "/hello.lua;"}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := CaseNamed(tt.name)
			for i := range cost {
				if cost[i].Name == tt.name {
					c = &cost[i]
				}
			}
			conf, err := writeConfig(c, dir, "18080")
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append(tt.want, "127.0.0.1:18080") {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s lacks %q:\n%s", conf, want, b)
				}
			}
			if strings.Contains(string(b), "{{") || strings.Contains(string(b), "<no value>") {
				t.Errorf("%s is not filled in:\n%s", conf, b)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.Base(c.Lua))); err != nil {
				t.Errorf("handler not written: %v", err)
			}
		})
	}
}

// The model gets the case's knobs as flags, the rest at their defaults.
func TestModelArgs(t *testing.T) {
	got := strings.Join(modelArgs(CaseNamed("prefork-close")), " ")
	want := "run --model process --addr 127.0.0.1:0 --compile-first --quiet --start-servers=8 --max-request-workers=8 --max-spare=8 sleep"
	if got != want {
		t.Errorf("modelArgs = %q\nwant        %q", got, want)
	}
	got = strings.Join(modelArgs(CaseNamed("event")), " ")
	want = "run --model event --addr 127.0.0.1:0 --compile-first --quiet --processes=2 --threads-per-child=4 blocking"
	if got != want {
		t.Errorf("modelArgs = %q\nwant        %q", got, want)
	}
	// A knob in milliseconds is a duration flag.
	got = strings.Join(modelArgs(&costCases(IdleConnections)[3]), " ")
	want = "run --model reactor --addr 127.0.0.1:0 --compile-first --quiet --loops=1 --connections=10000 --keepalive-timeout=1m0s hello"
	if got != want {
		t.Errorf("modelArgs = %q\nwant        %q", got, want)
	}
}

// Every case names a model, a server and a handler that exist.
func TestCases(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range append(slices.Clone(Cases), costCases(IdleConnections)...) {
		if seen[c.Name] || c.Name == "" {
			t.Errorf("case name %q empty or twice", c.Name)
		}
		seen[c.Name] = true
		if _, ok := realServers[c.Server]; !ok {
			t.Errorf("%s: unknown server %q", c.Name, c.Server)
		}
		if _, err := files.Open(c.Lua); err != nil {
			t.Errorf("%s: handler %s: %v", c.Name, c.Lua, err)
		}
		if _, err := os.Stat(filepath.Join("..", "wasm", "examples", c.Handler)); err != nil {
			t.Errorf("%s: mpmlab handler %s: %v", c.Name, c.Handler, err)
		}
		if err := c.Knobs.Normalize().ValidateFlags(); err != nil {
			t.Errorf("%s: knobs: %v", c.Name, err)
		}
		if strings.HasPrefix(c.Name, "cost-") {
			continue // measured once, with a load of their own
		}
		if c.Pairs < 1 || c.Load.Duration <= 0 {
			t.Errorf("%s: %d pairs of %v", c.Name, c.Pairs, c.Load.Duration)
		}
		if c.Informational && c.Why == "" {
			t.Errorf("%s: informational without a why", c.Name)
		}
	}
}
