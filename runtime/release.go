package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/tetratelabs/wazero/api"
)

// Release frees what wazero keeps of the module only to compile and
// instantiate it again: every function's body (the bytes of the code
// section, copied by its decoder: wasm/binary/code.go), every data
// segment's bytes (copied into linear memory at instantiation, and kept
// by the module, wasm.Module.DataSection, and by every instance,
// ModuleInstance.DataInstances) and every active element segment's
// function indices (copied into the table at instantiation, kept by
// wasm.Module.ElementSection). For a Go guest that is most of the heap
// a worker holds once its instances run: 6 MB of 7.5 for hello. Call it
// once every instance the process will run has been started; Start fails
// afterwards.
//
//	for i := range lanes {
//		insts[i], _ = m.Start(ctx, cfg)
//	}
//	if err := m.Release(); err != nil {
//		log.Print(err) // nothing was freed, and nothing else changed
//	}
//
// # Notes
//
//   - wazero has no API for this: it keeps the decoded module for as long
//     as an instance can reach it (ModuleInstance.Source, and the engine's
//     compiled module), and CompiledModule.Close does not free it while
//     instances run. Release reaches the fields through reflection on the
//     instances, by name and type; if wazero's layout is not the one it
//     knows (v1.12), it changes nothing and says so.
//   - An active segment's data instance is what the spec says it becomes
//     after instantiation anyway, dropped (as data.drop leaves it): a
//     memory.init of it with a length above zero traps. Passive segments,
//     which memory.init copies from at run time, are kept.
//   - So is an active element segment (elem.drop): wazero builds element
//     instances, which table.init copies from, only of passive ones.
//   - Machine code needs no bodies: it is compiled (or loaded) already. An
//     engine on the interpreter runs the bodies, so Release refuses.
func (m *Module) Release() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e.interpreter {
		return errors.New("releasing the module: the interpreter runs its bodies")
	}
	if len(m.insts) == 0 {
		return errors.New("releasing the module: no instance reaches it")
	}
	// Check everything first, change nothing unless all is as expected.
	var sources []reflect.Value
	var datas []reflect.Value
	for _, mod := range m.insts {
		inst, err := moduleInstance(mod)
		if err != nil {
			return err
		}
		src := inst.FieldByName("Source")
		if src.Kind() != reflect.Pointer || src.IsNil() {
			return errLayout("ModuleInstance.Source")
		}
		source := src.Elem()
		code, data := source.FieldByName("CodeSection"), source.FieldByName("DataSection")
		if !sliceOfStructWith(code, map[string]reflect.Kind{"Body": reflect.Slice, "LocalTypes": reflect.Slice}) ||
			!sliceOfStructWith(data, map[string]reflect.Kind{"Init": reflect.Slice, "Passive": reflect.Bool}) {
			return errLayout("Module.CodeSection or DataSection")
		}
		if elems := source.FieldByName("ElementSection"); !sliceOfStructWith(elems, map[string]reflect.Kind{"Init": reflect.Slice}) ||
			!isActiveMethod(elems.Type().Elem()) {
			return errLayout("Module.ElementSection")
		}
		di := inst.FieldByName("DataInstances")
		if di.Kind() != reflect.Slice || (di.Len() != 0 && di.Len() != data.Len()) || !di.CanSet() {
			return errLayout("ModuleInstance.DataInstances")
		}
		sources = append(sources, source)
		datas = append(datas, di)
	}
	for _, di := range datas {
		data := sources[0].FieldByName("DataSection")
		for i := range di.Len() {
			if !data.Index(i).FieldByName("Passive").Bool() {
				di.Index(i).SetZero()
			}
		}
	}
	for _, source := range sources { // the same module for every instance
		code := source.FieldByName("CodeSection")
		for i := range code.Len() {
			code.Index(i).FieldByName("Body").SetZero()
			code.Index(i).FieldByName("LocalTypes").SetZero()
		}
		data := source.FieldByName("DataSection")
		for i := range data.Len() {
			if d := data.Index(i); !d.FieldByName("Passive").Bool() {
				d.FieldByName("Init").SetZero()
			}
		}
		elems := source.FieldByName("ElementSection")
		for i := range elems.Len() {
			if e := elems.Index(i); e.Addr().MethodByName("IsActive").Call(nil)[0].Bool() {
				e.FieldByName("Init").SetZero()
			}
		}
	}
	m.released = true
	return nil
}

// moduleInstance is the wasm.ModuleInstance behind an api.Module.
func moduleInstance(mod api.Module) (reflect.Value, error) {
	v := reflect.ValueOf(mod)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || v.Elem().Type().Name() != "ModuleInstance" {
		return reflect.Value{}, errLayout(fmt.Sprintf("api.Module is a %T", mod))
	}
	return v.Elem(), nil
}

// sliceOfStructWith reports whether v is a slice of structs with the
// fields named, of the kinds given, exported and settable.
func sliceOfStructWith(v reflect.Value, fields map[string]reflect.Kind) bool {
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Struct {
		return false
	}
	for name, kind := range fields {
		f, ok := v.Type().Elem().FieldByName(name)
		if !ok || !f.IsExported() || f.Type.Kind() != kind {
			return false
		}
		if v.Len() > 0 && !v.Index(0).FieldByName(name).CanSet() {
			return false
		}
	}
	return true
}

// isActiveMethod reports whether *t has wazero's IsActive() bool, which
// tells an active element segment from a passive or declarative one.
func isActiveMethod(t reflect.Type) bool {
	m, ok := reflect.PointerTo(t).MethodByName("IsActive")
	return ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.Bool
}

func errLayout(what string) error {
	return fmt.Errorf("releasing the module: wazero's %s is not as in v1.12: nothing released", what)
}

// forget drops an instance that has ended from the module's list.
func (m *Module) forget(mod api.Module) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.insts = slices.DeleteFunc(m.insts, func(x api.Module) bool { return x == mod })
}
