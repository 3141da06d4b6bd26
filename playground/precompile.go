package playground

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

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
//   - One compile at a time (it uses the cores for a second or two), the
//     newest module first: a module superseded while it waits is dropped,
//     and one whose source is superseded while it compiles is stopped as
//     the newer source's build begins (supersede), since the person has
//     typed on and that build and its compile need the cores.
//   - A run whose module is being compiled waits for that compile
//     (await) instead of compiling it a second time, and keeps it from
//     being stopped.
//   - Stop cancels the compile in flight and waits for it.
//   - The memory a compile used is kept while the person edits (a compile
//     that finds it faulted in already is 0.2–0.3 s faster) and handed back
//     once no compile has run for keepCompileMemory.
type precompiler struct {
	cacheDir string
	ctx      context.Context // ends at Stop

	mu       sync.Mutex
	inflight map[string]*compile              // module path → its compile, until it and its then are done
	next     string                           // the module waiting for the compiler ("" none)
	then     map[string]func(context.Context) // what follows a module's compile (the latest asked)
	running  bool
	wg       sync.WaitGroup

	compiling string             // the module being compiled ("" none)
	stop      context.CancelFunc // stops its compile
	runs      map[string]int     // runs waiting for a module (await): its compile is not stopped

	// release hands back the compiles' memory once they have been quiet
	// for releaseAfter: debug.FreeOSMemory and keepCompileMemory (tests
	// change them; releaseAfter and releaseTimer under mu).
	release      func()
	releaseAfter time.Duration
	releaseTimer *time.Timer // armed while no compile runs
}

// compile is one module's compile in the background.
type compile struct {
	source string        // the key of the source the module was built from (supersede)
	done   chan struct{} // closed once it, and what follows it, are over
	ok     bool          // the machine code is in the cache (set before done closes)
}

// keepCompileMemory is how long the precompiler keeps the memory of its
// last compile (see models.Precompile): some 130 MB of the
// playground's RSS, as long as the workers started ahead wait
// (models.Standby), for a person who reads the code for minutes before
// the next edit. The page's check at load compiles the example shown,
// so the first edit finds it too.
const keepCompileMemory = 10 * time.Minute

func newPrecompiler(ctx context.Context, cacheDir string) *precompiler {
	return &precompiler{cacheDir: cacheDir, ctx: ctx, inflight: map[string]*compile{},
		then: map[string]func(context.Context){}, runs: map[string]int{},
		release: debug.FreeOSMemory, releaseAfter: keepCompileMemory}
}

// start queues the module at path, built from the source whose key is
// source (see supersede), for compiling, then, if the compile succeeds,
// then (which may be nil); it returns at once, with the compile (nil once
// Stop was called). The module counts as being compiled (await)
// until then has returned. A module already queued or compiling keeps its
// place, and a new then replaces one not yet begun, or runs after the one
// under way (the model or knobs changed). Another module's compile under
// way is stopped, unless a run waits for it.
func (p *precompiler) start(path, source string, then func(context.Context)) *compile {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return nil
	}
	if then != nil {
		p.then[path] = then
	}
	if c := p.inflight[path]; c != nil {
		return c
	}
	if p.next != "" { // superseded: whoever waits for it compiles it itself
		close(p.inflight[p.next].done)
		delete(p.inflight, p.next)
		delete(p.then, p.next)
	}
	if p.compiling != "" && p.runs[p.compiling] == 0 {
		p.stop() // another module's: it ends as a compile that failed
	}
	c := &compile{source: source, done: make(chan struct{})}
	p.inflight[path] = c
	p.next = path
	if !p.running {
		p.running = true
		if p.releaseTimer != nil {
			p.releaseTimer.Stop() // the compile about to run reuses the memory
		}
		p.wg.Add(1)
		go p.loop()
	}
	return c
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
			p.armRelease()
			p.mu.Unlock()
			return
		}
		c := p.inflight[path]
		ctx, stop := context.WithCancel(p.ctx)
		p.compiling, p.stop = path, stop
		p.mu.Unlock()

		// A failure is the run's to report; a run of a module stopped
		// here compiles it itself.
		c.ok = models.Precompile(ctx, p.cacheDir, path) == nil && ctx.Err() == nil
		stop()
		p.mu.Lock()
		p.compiling, p.stop = "", nil
		for c.ok {
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
		close(c.done)
		p.mu.Unlock()
	}
}

// armRelease hands back the compiles' memory releaseAfter from now,
// unless a compile starts before then. p.mu is held, and no compile runs.
func (p *precompiler) armRelease() {
	if p.releaseTimer == nil {
		p.releaseTimer = time.AfterFunc(p.releaseAfter, p.release)
		return
	}
	p.releaseTimer.Reset(p.releaseAfter)
}

// compiledElsewhere hands back, after releaseAfter as its own, the memory
// of a compile outside the precompiler: a Run's Start compiles a module
// no check built first, and keeps its memory for the playground
// (models.Config.KeepCompileMemory).
func (p *precompiler) compiledElsewhere() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running && p.ctx.Err() == nil {
		p.armRelease() // else the compile under way arms it as it ends
	}
}

// supersede stops the compile under way if its module was built from a
// source other than the one whose key is source, whose build is about to
// begin, unless a run waits for it.
func (p *precompiler) supersede(source string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.compiling != "" && p.inflight[p.compiling].source != source && p.runs[p.compiling] == 0 {
		p.stop() // it ends as a compile that failed
	}
}

// wait waits until c and what follows it are over (or ctx ends), and says
// whether its machine code is in the cache: false if the compile failed,
// was stopped for a newer module, or ctx ended first.
func (c *compile) wait(ctx context.Context) bool {
	select {
	case <-c.done:
		return c.ok
	case <-ctx.Done():
		return false
	}
}

// await waits, for a run, until the module at path is no longer being
// compiled in the background (or ctx ends); meanwhile that compile is not
// stopped for a newer module.
func (p *precompiler) await(ctx context.Context, path string) {
	p.mu.Lock()
	c := p.inflight[path]
	if c == nil {
		p.mu.Unlock()
		return
	}
	p.runs[path]++
	p.mu.Unlock()
	c.wait(ctx)
	p.mu.Lock()
	if p.runs[path]--; p.runs[path] == 0 {
		delete(p.runs, path)
	}
	p.mu.Unlock()
}

// wait waits for the compile in flight, once ctx has ended (Stop); the
// compiles' memory is then left to Go's own scavenger.
func (p *precompiler) wait() {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.releaseTimer != nil {
		p.releaseTimer.Stop()
	}
}
