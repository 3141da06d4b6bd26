package runtime

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

// loopSrc is a guest whose /loop?n= runs a tight loop of n iterations.
const loopSrc = `package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		x := uint64(1)
		for i := 0; i < n; i++ {
			x = x*6364136223846793005 + uint64(i)
		}
		fmt.Fprint(w, x)
	})
	guest.Serve(nil)
}
`

// BenchmarkTightLoop measures what wazero's WithCloseOnContextDone (the
// in-guest way to stop a runaway) costs an ordinary tight loop: 10 million
// iterations per op, with and without it. mpmlab stops runaways by killing
// the worker process instead, at no cost to the guest.
func BenchmarkTightLoop(b *testing.B) {
	wasm := guestWasm(b, loopSrc)
	for _, tc := range []struct {
		name  string
		close bool
	}{{"kill-process", false}, {"close-on-context-done", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			e, err := NewEngine(ctx, EngineConfig{CacheDir: b.TempDir(), closeOnContextDone: tc.close})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			m, err := e.Compile(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			inst, err := m.Start(ctx, InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close()
			req := &abi.Request{Method: "GET", URI: "/loop?n=10000000"}
			for b.Loop() {
				if _, err := inst.Do(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile measures wazero compiling the hello guest on a miss of
// the on-disk compilation cache and on a hit (with the machine code shared,
// as a worker process loads it).
func BenchmarkCompile(b *testing.B) {
	wasm := exampleWasm(b, "hello")
	ctx := context.Background()
	b.Run("miss", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			e, err := NewEngine(ctx, EngineConfig{CacheDir: filepath.Join(b.TempDir(), "c")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Compile(ctx, wasm); err != nil {
				b.Fatal(err)
			}
			e.Close(ctx)
		}
	})
	b.Run("hit", func(b *testing.B) {
		dir := b.TempDir()
		e, _ := NewEngine(ctx, EngineConfig{CacheDir: dir, SharePages: true})
		e.Compile(ctx, wasm)
		e.Close(ctx)
		for b.Loop() {
			e, err := NewEngine(ctx, EngineConfig{CacheDir: dir, SharePages: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Compile(ctx, wasm); err != nil {
				b.Fatal(err)
			}
			e.Close(ctx)
		}
	})
}

// BenchmarkInstantiate measures starting a hello instance until it has
// answered its first request, then closing it.
func BenchmarkInstantiate(b *testing.B) {
	m := exampleModule(b, "hello")
	ctx := context.Background()
	for b.Loop() {
		inst, err := m.Start(ctx, InstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inst.Do(ctx, &abi.Request{Method: "GET", URI: "/"}); err != nil {
			b.Fatal(err)
		}
		inst.Close()
		<-inst.Done()
	}
}
