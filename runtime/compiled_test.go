package runtime

import (
	"context"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

// emptyGuest is the smallest module Compile accepts: an empty _start.
var emptyGuest = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
	0x03, 0x02, 0x01, 0x00, // function 0 has type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export _start
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // its body: end
}

// Cached says whether the optimizing compiler has compiled a module into a
// cache directory; the interpreter leaves no record.
func TestCached(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if Cached(dir, emptyGuest) {
		t.Fatal("Cached before any compile")
	}
	interp, err := NewEngine(ctx, EngineConfig{CacheDir: dir, Interpreter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer interp.Close(ctx)
	if _, err := interp.Compile(ctx, emptyGuest); err != nil {
		t.Fatal(err)
	}
	if Cached(dir, emptyGuest) {
		t.Fatal("Cached after a compile on the interpreter")
	}
	e, err := NewEngine(ctx, EngineConfig{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if _, err := e.Compile(ctx, emptyGuest); err != nil {
		t.Fatal(err)
	}
	if !Cached(dir, emptyGuest) {
		t.Fatal("not Cached after a compile")
	}
	if Cached(t.TempDir(), emptyGuest) || Cached(dir, append([]byte(nil), emptyGuest[:len(emptyGuest)-1]...)) {
		t.Fatal("Cached for another directory or other bytes")
	}
}

// A guest on the interpreter serves as on machine code.
func TestInterpreterServes(t *testing.T) {
	skipBuilds(t)
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{CacheDir: t.TempDir(), Interpreter: true, MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if !e.Interpreter() {
		t.Fatal("Interpreter() is false")
	}
	m, err := e.Compile(ctx, exampleWasm(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Start(ctx, InstanceConfig{Env: []string{"MPMLAB_MODEL=process", "MPMLAB_PROCESS=3", "MPMLAB_PID=4242"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// The guest must be done before the engine closes: closing
		// unmaps its linear memory.
		inst.Close()
		<-inst.Done()
	}()
	resp, err := inst.Do(ctx, &abi.Request{Method: "GET", URI: "/"})
	if err != nil || resp.Status != 200 || string(resp.Body) != "hello from process 3 (pid 4242)\n" {
		t.Fatalf("got %v %q, %v", resp, resp.Body, err)
	}
}
