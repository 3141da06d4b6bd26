package playground

import (
	"context"
	"sync"

	"github.com/mpmlab/mpmlab/models"
)

// precompiler compiles built handlers to machine code ahead of their run.
//
// The page builds the source on a pause in typing (POST /api/build), as an
// IDE checks it; the build takes a fraction of a second, but compiling the
// module to machine code, which a run waits for before its workers start,
// takes one to two seconds more. So once a build succeeds its module is
// compiled into the compilation cache in the background, and the Run that
// follows starts its workers from the cache at once. When the page says
// which experiment it would run, the compile is followed by that Run's
// first workers, started ahead (models.Standby): each loads the module, a
// fifth of a second, before Run rather than after it.
//
// # Notes
//
//   - One compile at a time (it uses a core for a second or two), the
//     newest module first: a module superseded while it waits is dropped,
//     since the person has typed on.
//   - A run whose module is being compiled waits for that compile
//     (await) instead of compiling it a second time.
//   - Stop cancels the compile in flight and waits for it.
type precompiler struct {
	cacheDir string
	ctx      context.Context // ends at Stop

	mu       sync.Mutex
	inflight map[string]chan struct{}         // module path → closed when compiled (or failed)
	next     string                           // the module waiting for the compiler ("" none)
	then     map[string]func(context.Context) // what follows a module's compile (the latest asked)
	running  bool
	wg       sync.WaitGroup
}

func newPrecompiler(ctx context.Context, cacheDir string) *precompiler {
	return &precompiler{cacheDir: cacheDir, ctx: ctx, inflight: map[string]chan struct{}{}, then: map[string]func(context.Context){}}
}

// start queues the module at path for compiling, then, if the compile
// succeeds, then (which may be nil); it returns at once. The module counts
// as being compiled (await) until then has returned. A module already
// queued or compiling keeps its place, and a new then replaces one not yet
// begun, or runs after the one under way (the model or knobs changed).
func (p *precompiler) start(path string, then func(context.Context)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	if then != nil {
		p.then[path] = then
	}
	if p.inflight[path] != nil {
		return
	}
	if p.next != "" { // superseded: whoever waits for it compiles it itself
		close(p.inflight[p.next])
		delete(p.inflight, p.next)
		delete(p.then, p.next)
	}
	p.inflight[path] = make(chan struct{})
	p.next = path
	if !p.running {
		p.running = true
		p.wg.Add(1)
		go p.loop()
	}
}

// loop compiles the queued module until none is left.
func (p *precompiler) loop() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		path := p.next
		p.next = ""
		if path == "" {
			p.running = false
			p.mu.Unlock()
			return
		}
		done := p.inflight[path]
		p.mu.Unlock()

		// A failure is the run's to report.
		compiled := models.Precompile(p.ctx, p.cacheDir, path) == nil
		p.mu.Lock()
		for compiled {
			then := p.then[path]
			delete(p.then, path)
			if then == nil {
				break
			}
			p.mu.Unlock()
			then(p.ctx)
			p.mu.Lock()
		}
		delete(p.then, path)
		delete(p.inflight, path)
		close(done)
		p.mu.Unlock()
	}
}

// await waits until the module at path is no longer being compiled in the
// background (or ctx ends).
func (p *precompiler) await(ctx context.Context, path string) {
	p.mu.Lock()
	done := p.inflight[path]
	p.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// wait waits for the compile in flight, once ctx has ended (Stop).
func (p *precompiler) wait() { p.wg.Wait() }
