// Package runtime is mpmlab's wazero host: it builds handler sources into
// WebAssembly with the Go toolchain (Builder: wasip1 for the host, js for
// the browser, native for the baseline; offline, cached by content), and
// runs them as sandboxed guests (Engine, Module, Instance).
//
// A guest is a long-lived Go program, not a function per request: its main
// calls guest.Serve, and requests reach it as frames on a virtual file
// descriptor through the virtual WASI (internal/vwasi), so the Go scheduler
// inside the guest is a cooperative loop the host can watch
// (internal/timeline keeps the books of which request holds it). Guests get
// no filesystem and no network; their memory is capped.
//
//	e, _ := runtime.NewEngine(ctx, runtime.EngineConfig{})
//	m, _ := e.Compile(ctx, wasm)
//	inst, _ := m.Start(ctx, runtime.InstanceConfig{})
//	resp, phases, err := inst.DoPhases(ctx, &abi.Request{Method: "GET", URI: "/"})
//
// # Notes
//
// Guest code must run only in worker processes (package models), never in
// a process that must stay responsive: a guest spinning in compiled code
// cannot be preempted by Go (see RATIONALE.md). Building and compiling run
// no guest code and are fine anywhere.
package runtime
