package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/runtime/internal/timeline"
	"github.com/mpmlab/mpmlab/runtime/internal/vwasi"
	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// DefaultMemoryLimit is the linear memory an instance may grow to.
const DefaultMemoryLimit = 256 << 20

// EngineConfig configures an Engine. The zero value is usable.
type EngineConfig struct {
	// CacheDir holds wazero's compilation cache, so a module compiled once
	// loads in about a tenth of a second afterwards. Default: DefaultCacheDir()/wazero.
	CacheDir string
	// MemoryLimit caps each instance's linear memory, in bytes (rounded
	// down to 64 KiB pages). Default DefaultMemoryLimit.
	MemoryLimit int

	// Interpreter runs guests on wazero's interpreter instead of its
	// optimizing compiler: Compile takes a fraction of the time of a cache
	// miss, the guest runs many times slower, and the compiled form (about
	// 20 bytes of Go heap per byte of guest code) is not cached.
	Interpreter bool

	// SharePages maps what every process running a module holds alike
	// from files in CacheDir, so that the processes share one copy in the
	// page cache where each would hold its own: the machine code Compile
	// loads (mpmlab-code/; about four times the module's size), read-only,
	// and each instance's memory as its data segments made it
	// (mpmlab-memory/), copied on write; and while a guest waits for
	// work, it gives back the pages of zeros its memory holds past that
	// image (reclaimEvery). Linux on amd64 and arm64;
	// ignored elsewhere, and for machine code on the interpreter.
	// Module.CodeShared and Instance.MemoryShared say whether it worked. A
	// worker process sets it; see RATIONALE.md, "A worker's memory", and
	// codeshare_linux.go for what it requires of the process.
	SharePages bool

	// closeOnContextDone turns on wazero's WithCloseOnContextDone, for
	// BenchmarkTightLoop's comparison only (see RATIONALE.md).
	closeOnContextDone bool
}

// reclaimEvery is how often at most a waiting guest's pages of zeros are
// given back (memory_mmap.go): a tenth of a second, so a process left idle
// holds only what its guest uses a moment after its last request, and the
// scan, tens of microseconds, costs a busy guest little.
const reclaimEvery = 100 * time.Millisecond

// Engine compiles and instantiates guest modules with wazero. One Engine
// serves every instance of a worker process.
//
// # Notes
//
//   - Guest code must only run in worker processes, never in the supervisor:
//     a spinning guest cannot be preempted by Go (see RATIONALE.md).
//     Compiling, which runs no guest code, is fine anywhere.
//   - An Engine is safe for concurrent use.
type Engine struct {
	r           wazero.Runtime
	cache       wazero.CompilationCache
	cacheDir    string
	interpreter bool
	sharePages  bool
}

// NewEngine returns an Engine with the virtual WASI and the "mpmlab" host
// module installed.
func NewEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	if cfg.CacheDir == "" {
		cfg.CacheDir = defaultEngineCacheDir()
	}
	if cfg.MemoryLimit <= 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("compilation cache %s: %w", cfg.CacheDir, err)
	}
	rc := wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache)
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.
		WithMemoryLimitPages(uint32(cfg.MemoryLimit / 65536)).
		WithCloseOnContextDone(cfg.closeOnContextDone)
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	b := r.NewHostModuleBuilder("wasi_snapshot_preview1")
	vwasi.Export(b)
	if _, err := b.Instantiate(ctx); err != nil {
		return nil, err
	}
	if _, err := exportHost(r.NewHostModuleBuilder("mpmlab")).Instantiate(ctx); err != nil {
		return nil, err
	}
	return &Engine{r: r, cache: cache, cacheDir: cfg.CacheDir, interpreter: cfg.Interpreter, sharePages: cfg.SharePages}, nil
}

// Close releases the engine and every instance it started. Call it only
// once those instances have ended (Instance.Done): wazero frees the
// machine code, through finalizers, under a guest that still runs it, and
// the process faults.
func (e *Engine) Close(ctx context.Context) error {
	err := e.r.Close(ctx)
	e.cache.Close(ctx)
	return err
}

func defaultEngineCacheDir() string { return filepath.Join(DefaultCacheDir(), "wazero") }

// Module is a compiled guest, ready to be instantiated many times.
type Module struct {
	e        *Engine
	compiled wazero.CompiledModule
	shareErr error  // why the machine code is not shared (EngineConfig.SharePages)
	code     []span // the machine code mapped from shared files

	mu       sync.Mutex
	insts    []api.Module // started, for Release
	released bool
}

// Compile compiles a guest (.wasm bytes built by Builder), using the
// on-disk compilation cache. For a typical guest (5 MB, most of it the Go
// runtime and net/http) a miss of the optimizing compiler takes one to two
// seconds on two CPUs and a hit a tenth of a second; the interpreter takes
// a quarter of a second every time, since it has no cache (see Cached).
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	// Compile functions on every CPU: a miss (a new handler) is what a
	// user waits for after an edit. (The interpreter compiles on one.)
	ctx = experimental.WithCompilationWorkers(ctx, goruntime.NumCPU())
	var cm wazero.CompiledModule
	load := func() (err error) {
		// wazero keeps a struct per data segment for the module's life:
		// fewer segments, less heap (datapack.go).
		cm, err = e.r.CompileModule(ctx, packData(wasm))
		return err
	}
	var err, shareErr error
	var code []span
	switch {
	case e.sharePages && !e.interpreter:
		code, err, shareErr = shareCode(filepath.Join(e.cacheDir, codeDir), load)
	case e.sharePages:
		err, shareErr = load(), errors.New("the interpreter runs no machine code")
	default:
		err, shareErr = load(), errors.New("EngineConfig.SharePages is off")
	}
	if err != nil {
		return nil, fmt.Errorf("compiling guest: %w", err)
	}
	hasStart, read := exportsFunc(wasm, "_start")
	if !read { // wazero validated it: it reads what we did not
		_, hasStart = cm.ExportedFunctions()["_start"]
	}
	if !hasStart {
		return nil, errors.New("compiling guest: no _start: is it a package main built for wasip1?")
	}
	if !e.interpreter {
		e.markCompiled(wasm)
	}
	return &Module{e: e, compiled: cm, shareErr: shareErr, code: code}, nil
}

// The directories in EngineConfig.CacheDir that hold the files of
// EngineConfig.SharePages: machine code, and memory as instantiated.
const (
	codeDir   = "mpmlab-code"
	memoryDir = "mpmlab-memory"
)

// CodeShared returns nil if the module's machine code is mapped from a file
// that other processes share (EngineConfig.SharePages), or why it is not.
func (m *Module) CodeShared() error {
	if m.shareErr != nil {
		return fmt.Errorf("machine code not shared: %w", m.shareErr)
	}
	return nil
}

// DropCodePages drops this process's page-table entries for the module's
// machine code mapped from shared files (EngineConfig.SharePages), so that
// the process holds, in its RSS and PSS, only the code it runs from then
// on. Call it once the instances have started up. A Go guest's start-up
// runs code from all over the module (every package's initialisation), and
// the kernel maps up to 64 KiB of the file around each page it faults in
// (fault_around_bytes): hello's start left 14 to 16 MB of its 20 MB of
// machine code resident in every worker, where serving runs a few MB.
// The pages stay in the page cache, shared; code run later is mapped
// again by a minor fault, without I/O. Code that is not shared, a private
// copy, is left alone: dropping it would zero it.
func (m *Module) DropCodePages() error {
	err := dropPages(m.code)
	goruntime.KeepAlive(m.compiled) // its finalizer would unmap the code
	return err
}

// Interpreter reports whether the engine runs guests on wazero's
// interpreter (EngineConfig.Interpreter).
func (e *Engine) Interpreter() bool { return e.interpreter }

// InstanceConfig configures one guest instance.
type InstanceConfig struct {
	// Env is the guest's environment ("KEY=value"); the SDK reads who it is
	// from it (guest.Worker).
	Env []string
	// Log receives the guest's stdout and stderr, one line at a time
	// (stream is "stdout" or "stderr"). May be nil.
	Log func(stream, line string)
	// Shared is the store behind guest.Shared; instances of one worker
	// process share one. Nil gives the instance a store of its own.
	Shared *Shared
	// Pool is the thread pool behind guest.Pool; instances of one worker
	// process share one. Nil gives the instance a pool of its own, of
	// the default size (its threads start only if the guest uses it).
	Pool *Pool
	// OnPoolTask, if set, is told of each of the instance's pool tasks as
	// it is queued, started, done or refused (see PoolTask), on the
	// guest's goroutine or a pool thread: it must be quick.
	OnPoolTask func(PoolTask)
	// OnBlock is called when the guest enters (true) and leaves (false)
	// guest.Block. May be nil.
	OnBlock func(blocked bool)
	// OnLag receives the loop-lag samples the guest measures (guest env
	// MPMLAB_LAG=1). May be nil.
	OnLag func(lag time.Duration)
	// LockOSThread runs the guest on an OS thread of its own (the thread
	// model's threads) while it runs. While it waits for work it lets the
	// thread go, and it takes the thread that wakes it: so a request
	// handed to it runs at once on the thread that handed it over, with
	// no second thread to wake (vwasi's SetThreadLocked).
	LockOSThread bool
	// OnPass, if set, receives every pass of the instance's loop that ran a
	// request (see Pass), on the guest's goroutine: it must be quick and
	// must copy what it keeps.
	OnPass func(*Pass)
	// OnHandlerStart, if set, is told when a request's handler first runs
	// (id is abi.Request.ID), on the guest's goroutine: it must be quick.
	OnHandlerStart func(id uint32, t time.Time)
	// NoPhases turns the per-request bookkeeping off (Phases are then zero,
	// OnPass is never called): only to measure what it costs.
	NoPhases bool
	// Files is what the guest finds at its root, read-only (nil: nothing);
	// TmpLimit caps its own /tmp, in bytes (0: DefaultTmpLimit).
	Files    *Files
	TmpLimit int64
}

// Pass is one busy stretch of an instance's loop, between two waits in
// poll_oneoff, with the requests that ran in it one after another.
type Pass = timeline.Pass

// Segment is one request's contiguous stretch within a Pass.
type Segment = timeline.Segment

// Phases is what one request did inside its instance, measured by the host
// from the guest's marks (see package timeline's doc for how time is
// attributed).
type Phases struct {
	// Wait runs from the frame's delivery to the instance until its
	// handler first ran: the time it queued behind whatever held the loop.
	Wait time.Duration
	// Service runs from the handler's first run until it returned.
	Service time.Duration
	// Run is how long of Service it held the loop (Compute and Block
	// included); the rest it was parked or ready while others ran.
	Run     time.Duration
	Compute time.Duration // in guest.Compute
	Block   time.Duration // in guest.Block
	// Hold is its longest contiguous stretch on the loop, and HoldWhere the
	// position in the handler's source that made it ("main.go:22").
	Hold      time.Duration
	HoldWhere string
}

// Parked is the part of Service the request was not running.
func (p Phases) Parked() time.Duration { return max(0, p.Service-p.Run) }

// Instance is a running guest: one long-lived Go program serving requests
// concurrently through the virtual WASI.
type Instance struct {
	conn *vwasi.Conn
	cfg  InstanceConfig
	m    *Module
	mod  api.Module

	nextID  atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]*Stream // nil once the instance has ended
	buf     []byte

	// tl keeps the loop's books; ended holds the phases of requests whose
	// handler returned until their response frame arrives. Both are used on
	// the guest's goroutine only (nil with NoPhases).
	tl    *timeline.Timeline
	ended map[uint32]timeline.Phases

	stdout, stderr *guestLog
	memShareErr    error          // why the memory is not shared (EngineConfig.SharePages)
	memory         instanceMemory // its linear memory's mapping, if this package made it

	done    chan struct{}
	exitErr error
}

// ExitError says why an instance ended.
type ExitError struct {
	Code  uint32 // the guest's exit code; 0 for a clean exit
	Cause string // e.g. "panic: crash requested", "fatal error: out of memory"
}

func (e *ExitError) Error() string {
	if e.Cause != "" {
		return e.Cause
	}
	return fmt.Sprintf("guest exited with code %d", e.Code)
}

// Start instantiates m and runs its main (which calls guest.Serve) on a
// goroutine of its own. It returns once the instance is ready for Do.
func (m *Module) Start(ctx context.Context, cfg InstanceConfig) (*Instance, error) {
	if cfg.Shared == nil {
		cfg.Shared = NewShared()
	}
	if cfg.Pool == nil {
		cfg.Pool = NewPool(PoolConfig{})
	}
	inst := &Instance{cfg: cfg, m: m, pending: map[uint32]*Stream{}, done: make(chan struct{})}
	inst.stdout = newGuestLog("stdout", cfg.Log)
	inst.stderr = newGuestLog("stderr", cfg.Log)
	inst.conn = vwasi.NewConn(inst.onFrame, inst.stdout, inst.stderr)
	inst.conn.SetFS(cfg.Files.vfs(), cfg.TmpLimit)
	inst.conn.SetThreadLocked(cfg.LockOSThread)
	if !cfg.NoPhases {
		inst.tl, inst.ended = timeline.New(), map[uint32]timeline.Phases{}
		inst.tl.OnPass = cfg.OnPass
		inst.conn.SetTimeline(inst.tl)
	} else {
		cfg.Env = append(cfg.Env, "MPMLAB_PHASES=0")
	}

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _start is called below, on the instance's own goroutine
		WithArgs("handler").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released {
		return nil, errors.New("instantiating guest: the module was released (Module.Release)")
	}
	var memory instanceMemory
	mod, err := m.e.r.InstantiateModule(experimental.WithMemoryAllocator(ctx, memory.allocator()), m.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiating guest: %w", err)
	}
	m.insts = append(m.insts, mod)
	// The guest has not run yet: its memory is what instantiation made it.
	switch mem := memory.mapping(); {
	case !m.e.sharePages:
		inst.memShareErr = errors.New("EngineConfig.SharePages is off")
	case mod.Memory() == nil || mem == nil:
		inst.memShareErr = errors.New("no linear memory of mpmlab's")
	default:
		shared, err := shareImage(filepath.Join(m.e.cacheDir, memoryDir), mem[:mod.Memory().Size()])
		inst.memShareErr = err
		if reclaim := memory.reclaimer(shared, mod.Memory().Size); reclaim != nil {
			inst.conn.SetReclaim(reclaimEvery, reclaim)
		}
	}
	inst.mod, inst.memory = mod, memory
	runCtx := vwasi.WithConn(context.WithValue(context.Background(), instanceKey{}, inst), inst.conn)
	go inst.run(runCtx)
	return inst, nil
}

func (i *Instance) run(ctx context.Context) {
	if i.cfg.LockOSThread {
		// Locked while it runs; its waits let the thread go
		// (vwasi's SetThreadLocked).
		goruntime.LockOSThread()
	}
	if i.tl != nil {
		i.tl.PollExit(time.Now().UnixNano()) // the loop's first pass: main runs
	}
	_, err := i.mod.ExportedFunction("_start").Call(ctx)
	i.mod.Close(context.Background())
	i.m.forget(i.mod)
	i.stdout.flush() // a last line without its newline is still a line
	i.stderr.flush()
	exit := &ExitError{}
	var se *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &se):
		exit.Code = se.ExitCode()
	default:
		exit.Code = 1
		exit.Cause = "trap: " + firstLine(err.Error())
	}
	if c := i.stderr.cause(); c != "" {
		exit.Cause = c
	}
	if exit.Code != 0 && exit.Cause == "" {
		exit.Cause = fmt.Sprintf("guest exited with code %d", exit.Code)
	}
	i.mu.Lock()
	i.exitErr = exit
	pending := i.pending
	i.pending = nil
	i.mu.Unlock()
	for _, st := range pending {
		st.signal()
	}
	close(i.done)
}

// Stream is one request in flight in an instance, as the host sees it:
// the guest's frames for it arrive in order (Take, Ready), and the host
// sends its own with Send. See package abi's doc, "Streams", for the
// conversation. The frames queued are bounded by the protocol: the guest
// sends KindData only within abi.Window, and everything else it sends is
// small.
type Stream struct {
	inst      *Instance
	id        uint32
	delivered int64

	mu     sync.Mutex
	q      []*abi.Frame
	ready  chan struct{} // poked when q grows or the instance ends
	ended  bool          // the final frame (KindResponse, KindEnd) came
	phases timeline.Phases
	began  atomic.Bool // the guest's handler began (its req_begin mark)
}

// Began reports whether the guest's handler for the request has begun
// running (always false with InstanceConfig.NoPhases, which has no marks).
// Any goroutine may call it.
func (s *Stream) Began() bool { return s.began.Load() }

// Open sends req's head (and its inline body) to the guest and returns its
// stream. A zero req.ID is assigned; a caller may set its own, unique among
// the instance's requests in flight, to find the request in the loop's
// passes (Segment.Req). Open fails with the instance's *ExitError once it
// has ended.
func (i *Instance) Open(req *abi.Request) (*Stream, error) {
	st := &Stream{inst: i, ready: make(chan struct{}, 1)}
	i.mu.Lock()
	if i.pending == nil {
		i.mu.Unlock()
		return nil, i.Err()
	}
	if req.ID == 0 || i.pending[req.ID] != nil {
		req.ID = i.nextID.Add(1)
	}
	st.id = req.ID
	i.buf = abi.AppendRequest(i.buf[:0], req)
	if len(i.buf) > abi.MaxFrame {
		i.mu.Unlock()
		return nil, abi.ErrFrameTooLarge
	}
	i.pending[req.ID] = st
	st.delivered = time.Now().UnixNano()
	i.conn.Push(i.buf) // under i.mu: frames stay whole and in order
	i.mu.Unlock()
	return st, nil
}

// ID is the request's id in its instance.
func (s *Stream) ID() uint32 { return s.id }

// Send sends one frame of the request to the guest (its ID is set here).
// Frames sent after the stream ended are ignored by the guest.
func (s *Stream) Send(f *abi.Frame) {
	f.ID = s.id
	i := s.inst
	i.mu.Lock()
	if i.pending != nil {
		i.buf = abi.AppendFrame(i.buf[:0], f)
		i.conn.Push(i.buf)
	}
	i.mu.Unlock()
}

// Take returns the next frame the guest sent for the request, if one is
// queued. After the final frame (KindResponse or KindEnd) it returns
// nothing more.
func (s *Stream) Take() (*abi.Frame, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return nil, false
	}
	f := s.q[0]
	s.q[0] = nil
	s.q = s.q[1:]
	return f, true
}

// Ready receives when Take may have a frame, or the instance ended (then
// Err is set): call Take until it has none before waiting again.
func (s *Stream) Ready() <-chan struct{} { return s.ready }

// Err returns the instance's *ExitError once it has ended.
func (s *Stream) Err() error { return s.inst.Err() }

// Close forgets the stream: frames the guest sends for it later are
// dropped. Call it when done with the request, in every case. A stream
// the guest has not ended is cancelled (KindCancel): its handler's
// context is done, and its reads and writes fail.
func (s *Stream) Close() {
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if !ended {
		s.Send(&abi.Frame{Kind: abi.KindCancel})
	}
	i := s.inst
	i.mu.Lock()
	if i.pending != nil && i.pending[s.id] == s {
		delete(i.pending, s.id)
	}
	i.mu.Unlock()
}

// Phases is what the request did inside the instance, once its final
// frame has been taken (zero before, or without marks).
func (s *Stream) Phases() Phases {
	s.mu.Lock()
	defer s.mu.Unlock()
	return phasesOf(s.phases, s.delivered)
}

func (s *Stream) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Do sends req to the guest and waits for its whole response. It fails
// with the instance's *ExitError if the instance ends first (a crash), or
// ctx's error. A request body goes inline (req.Body); a streamed response
// is assembled whole; a hijack fails. A zero req.ID is assigned by Do; see
// Open.
func (i *Instance) Do(ctx context.Context, req *abi.Request) (*abi.Response, error) {
	resp, _, err := i.DoPhases(ctx, req)
	return resp, err
}

// DoPhases is Do, also returning what the request did inside the instance.
func (i *Instance) DoPhases(ctx context.Context, req *abi.Request) (*abi.Response, Phases, error) {
	req.Stream = false
	if req.ContentLength == 0 {
		req.ContentLength = int64(len(req.Body))
	}
	st, err := i.Open(req)
	if err != nil {
		return nil, Phases{}, err
	}
	defer st.Close()
	resp := &abi.Response{ID: st.id}
	for {
		f, ok := st.Take()
		if !ok {
			select {
			case <-st.Ready():
			case <-i.done:
				if f, ok = st.Take(); !ok {
					return nil, Phases{}, i.Err()
				}
			case <-ctx.Done():
				return nil, Phases{}, ctx.Err()
			}
			if !ok {
				continue
			}
		}
		switch f.Kind {
		case abi.KindResponse:
			return &abi.Response{ID: st.id, Status: int(f.N), Header: f.Header, Body: f.Data, Trailer: f.Trailer}, st.Phases(), nil
		case abi.KindHead:
			resp.Status, resp.Header = int(f.N), f.Header
		case abi.KindData:
			resp.Body = append(resp.Body, f.Data...)
			st.Send(&abi.Frame{Kind: abi.KindWindow, N: uint32(len(f.Data))})
		case abi.KindRead:
			st.Send(&abi.Frame{Kind: abi.KindEOF})
		case abi.KindEnd:
			resp.Trailer = f.Trailer
			return resp, st.Phases(), nil
		case abi.KindHijack:
			return nil, Phases{}, errors.New("the handler hijacked the connection")
		}
	}
}

// phasesOf turns the timeline's books of a request delivered at delivered
// into Phases (zero if the guest sent no marks).
func phasesOf(p timeline.Phases, delivered int64) Phases {
	if p.Start == 0 {
		return Phases{}
	}
	return Phases{
		Wait:      time.Duration(max(0, p.Start-delivered)),
		Service:   time.Duration(p.End - p.Start),
		Run:       time.Duration(p.Run),
		Compute:   time.Duration(p.Compute),
		Block:     time.Duration(p.Block),
		Hold:      time.Duration(p.Hold),
		HoldWhere: p.HoldWhere,
	}
}

// onFrame queues one frame the guest wrote for its stream. It runs on the
// guest's goroutine, inside fd_write: it never waits.
func (i *Instance) onFrame(frame []byte) {
	f, err := abi.DecodeFrame(frame)
	if err != nil {
		panic(sys.NewExitError(3))
	}
	final := f.Kind == abi.KindResponse || f.Kind == abi.KindEnd
	var p timeline.Phases
	if final && i.ended != nil {
		p = i.ended[f.ID]
		delete(i.ended, f.ID)
	}
	i.mu.Lock()
	st := i.pending[f.ID]
	if final && st != nil {
		delete(i.pending, f.ID)
	}
	i.mu.Unlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	if !st.ended {
		st.q = append(st.q, f)
		st.ended = final
		if final {
			st.phases = p
		}
	}
	st.mu.Unlock()
	st.signal()
}

// MemoryShared returns nil if the instance's memory, as instantiation made
// it, is mapped from a file that other processes share, copied on write
// (EngineConfig.SharePages), or why it is not.
func (i *Instance) MemoryShared() error {
	if i.memShareErr != nil {
		return fmt.Errorf("memory not shared: %w", i.memShareErr)
	}
	return nil
}

// Done is closed when the instance has ended.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err returns why the instance ended (an *ExitError), or nil while it runs.
// It is set before the requests in flight are failed, so a Do that fails
// because the instance ended always returns it (Done is closed just after).
func (i *Instance) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.exitErr
}

// Close ends the request stream; the guest's Serve returns once it has read
// what was queued. Close does not wait; use Done.
func (i *Instance) Close() { i.conn.CloseInput() }

// Abort stops the guest at its next wait, failing requests in flight.
func (i *Instance) Abort() { i.conn.Abort() }

// Holder is the id (Stream.ID) of the request that marked last in the
// guest's current pass, the one running unless a parked one has resumed
// since (timeline.Timeline.Holder), or 0: none, or phases off
// (InstanceConfig.NoPhases). Any goroutine may call it, while the guest
// spins in a handler too.
func (i *Instance) Holder() uint32 {
	if i.tl == nil {
		return 0
	}
	return i.tl.Holder()
}

// Loop reports the instance's loop: passes through poll_oneoff so far,
// whether it is waiting in poll_oneoff right now, a signal that receives
// after each new pass, the total time spent waiting, and the request bytes
// its guest has read.
func (i *Instance) Loop() *vwasi.Conn { return i.conn }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// guestLog splits a guest stream into lines for Log and remembers the
// first line that explains a crash ("panic: ...", "fatal error: ...").
type guestLog struct {
	stream string
	log    func(stream, line string)
	mu     sync.Mutex
	buf    []byte
	crash  string
}

func newGuestLog(stream string, log func(stream, line string)) *guestLog {
	return &guestLog{stream: stream, log: log}
}

const maxLogLine = 4 << 10

func (w *guestLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		skip := 1 // the newline
		switch {
		case i > maxLogLine || (i < 0 && len(w.buf) > maxLogLine):
			i, skip = maxLogLine, 0 // a long line is cut in pieces
		case i < 0:
			return len(p), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+skip:]
	}
}

func (w *guestLog) line(s string) {
	if w.crash == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")) {
		w.crash = s
	}
	if w.log != nil {
		w.log(w.stream, s)
	}
}

func (w *guestLog) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *guestLog) cause() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crash
}
