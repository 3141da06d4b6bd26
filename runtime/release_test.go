package runtime

import (
	"context"
	"reflect"
	"testing"
)

// Release frees the bodies and data of a module whose instances run; they
// go on serving, and no instance can start after it.
func TestRelease(t *testing.T) {
	exampleModule(t, "hello") // the shared engine
	m, err := engine.Compile(context.Background(), exampleWasm(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Release(); err == nil {
		t.Error("Release with no instance succeeded")
	}
	insts := []*Instance{startModule(t, m, InstanceConfig{}), startModule(t, m, InstanceConfig{})}
	if err := m.Release(); err != nil {
		t.Fatal(err)
	}
	for _, inst := range insts {
		for range 3 {
			if resp, err := get(t, inst, "/"); err != nil || resp.Status != 200 {
				t.Fatalf("after Release: %v, %v", resp, err)
			}
		}
	}
	if _, err := m.Start(context.Background(), InstanceConfig{}); err == nil {
		t.Error("Start after Release succeeded")
	}

	// What it freed.
	for _, inst := range insts {
		mi := reflect.ValueOf(inst.mod).Elem()
		for i, d := range mi.FieldByName("DataInstances").Seq2() {
			if d.Len() != 0 {
				t.Fatalf("data instance %v kept %d bytes", i, d.Len())
			}
		}
		src := mi.FieldByName("Source").Elem()
		code, data := src.FieldByName("CodeSection"), src.FieldByName("DataSection")
		if code.Len() == 0 || data.Len() == 0 {
			t.Fatalf("%d functions, %d data segments: not a Go guest", code.Len(), data.Len())
		}
		for i := range code.Len() {
			if code.Index(i).FieldByName("Body").Len() != 0 {
				t.Fatalf("function %d kept its body", i)
			}
		}
		for i := range data.Len() {
			if data.Index(i).FieldByName("Init").Len() != 0 {
				t.Fatalf("data segment %d kept its bytes", i)
			}
		}
		elems := src.FieldByName("ElementSection")
		if elems.Len() == 0 {
			t.Fatal("no element segment: not a Go guest")
		}
		for i := range elems.Len() {
			if elems.Index(i).FieldByName("Init").Len() != 0 {
				t.Fatalf("element segment %d kept its %d function indices", i, elems.Index(i).FieldByName("Init").Len())
			}
		}
	}
}

// On the interpreter, which runs the bodies, Release refuses.
func TestReleaseInterpreter(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{CacheDir: t.TempDir(), Interpreter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Compile(ctx, emptyGuest)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Start(ctx, InstanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	<-inst.Done()
	if err := m.Release(); err == nil {
		t.Error("Release on the interpreter succeeded")
	}
}

// A compiled guest that serves has no api.FunctionDefinition of its
// functions: wazero builds them all, and keeps them, the first time one is
// asked for (CompiledModule.ExportedFunctions did: 0.5 MB of a hello
// worker's live heap). See exportsFunc.
func TestServingBuildsNoFunctionDefinitions(t *testing.T) {
	exampleModule(t, "hello") // the shared engine
	m, err := engine.Compile(context.Background(), exampleWasm(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	inst := startModule(t, m, InstanceConfig{})
	if resp, err := get(t, inst, "/"); err != nil || resp.Status != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	defs := reflect.ValueOf(inst.mod).Elem().FieldByName("Source").Elem().FieldByName("FunctionDefinitionSection")
	if defs.Kind() != reflect.Slice {
		t.Fatalf("wazero's Module.FunctionDefinitionSection is a %v, not a slice: is wazero still v1.12?", defs.Kind())
	}
	if defs.Len() != 0 {
		t.Errorf("%d function definitions built", defs.Len())
	}
}

func TestExportsFunc(t *testing.T) {
	wasm := exampleWasm(t, "hello")
	for _, c := range []struct {
		name      string
		found, ok bool
	}{{"_start", true, true}, {"memory", false, true}, {"start", false, true}} {
		if found, ok := exportsFunc(wasm, c.name); found != c.found || ok != c.ok {
			t.Errorf("exportsFunc(hello, %q) = %v, %v; want %v, %v", c.name, found, ok, c.found, c.ok)
		}
	}
	// A module without exports; one cut short in a section's header.
	if found, ok := exportsFunc([]byte("\x00asm\x01\x00\x00\x00"), "_start"); found || !ok {
		t.Errorf("no export section: %v, %v", found, ok)
	}
	if _, ok := exportsFunc(wasm[:9], "_start"); ok {
		t.Error("a module cut short read")
	}
}
