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
