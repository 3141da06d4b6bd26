package models

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
	"github.com/mpmlab/mpmlab/wasm/threadpool"
	"golang.org/x/sys/unix"
)

// Worker processes.
//
// The supervisor starts every worker as "mpmlab worker" with
//
//	fd 3  the listening socket (shared by all workers, as in Apache)
//	fd 4  the event pipe: the worker writes JSON Events, one per line
//	fd 5  its row of the scoreboard: shared memory, a word per lane that
//	      the worker writes and the supervisor reads (scoreboard.go)
//	env   MPMLAB_WORKER_SPEC: the workerSpec below, as JSON
//
// or adopts a worker started ahead (Standby), which receives the spec and
// the three descriptors on its socket instead (workerFDs).
//
// A worker accepts connections itself, from the shared socket: connections
// that no worker takes wait in the kernel's accept queue, as they would for
// Apache or nginx. When the event pipe breaks (the supervisor is gone) the
// worker exits.

const (
	workerSpecEnv = "MPMLAB_WORKER_SPEC"
	listenFD      = 3
	eventFD       = 4

	// heartbeatInterval is how often a worker says it is alive; the
	// supervisor kills a worker that stays silent (a guest spinning can
	// freeze the whole process, see RATIONALE.md).
	heartbeatInterval = 2 * time.Second
	// deadmanGrace is how long past --timeout the kernel kills a worker
	// whose own timeout handling could not run (see deadman).
	deadmanGrace = time.Second
	// workerGCPercent is the GOGC of a serving prefork process or loop
	// (unless GOGC is set). A prefork process's live heap is small once
	// the guest runs (1 to 3 MB: wazero's instance, net/http's
	// connection), so the collector's floor, a heap of 4 MB at GOGC 100,
	// is most of what the heap holds resident; at 50 the floor is 2 MB
	// and a prefork process 1.3 MB smaller, for collections of a heap
	// that small, which cost no CPU per request that bench could tell
	// apart. A loop's heap holds its idle connections: at 50 each costs
	// less. A worker with threads keeps Go's default: its processes are
	// few, and there the collections cost CPU per request (17% of the
	// thread model's at 50). Not on the interpreter, whose 110 MB of live
	// heap would be marked twice as often. (RATIONALE.md, "A worker's
	// memory".)
	workerGCPercent = 50
	// guestGCPercent is the GOGC of a guest that serves one request at a
	// time (process, thread, event; unless the experiment sets GOGC, and
	// not on the interpreter, where a collection is slow). Its live heap
	// is under 1 MB, so the collector's floor, a heap of 4 MB at GOGC
	// 100, is what it writes of its linear memory under load, and it
	// never hands memory back (wasm cannot): at 25 the floor is 1 MB and
	// a hello worker 0.8 to 1.8 MB smaller after a load, for collections of a
	// heap that small, which cost no CPU per request that could be told
	// apart. A loop's heap holds every connection: it keeps Go's default.
	// (See RATIONALE.md, "A worker's memory".)
	guestGCPercent = 25
	// crashDrain is how long a dying worker waits for its connections to
	// finish writing their responses (the crash's 502 among them) before it
	// exits; it usually takes a millisecond.
	crashDrain = time.Second
)

// Exit codes of a worker process.
const (
	exitCrash   = 3 // a guest crashed (panic, trap, out of memory)
	exitRunaway = 4 // a request exceeded --timeout
	exitSetup   = 5 // the worker could not start
	exitRetired = 0 // asked to stop, or its connection quota was used up
)

// workerSpec is what the supervisor tells a worker process.
type workerSpec struct {
	Model       Model  `json:"model"`
	Process     int    `json:"process"` // index of this worker process
	Lanes       int    `json:"lanes"`   // guest instances (Policy.Lanes)
	Wasm        string `json:"wasm"`
	CacheDir    string `json:"cache_dir"`
	MemoryLimit int    `json:"memory_limit"`
	Trace       bool   `json:"trace"`
	NoPhases    bool   `json:"no_phases"`
	// Interpreter runs the guests on wazero's interpreter: the workers
	// that serve while the supervisor compiles (Config.ServeWhileCompiling).
	Interpreter bool `json:"interpreter,omitempty"`
	// Files are the data files (writeFiles), "" for none; Env the
	// experiment's environment.
	Files string   `json:"files,omitempty"`
	Env   []string `json:"env,omitempty"`
	// Standby starts a worker that loads the module (Wasm, CacheDir,
	// MemoryLimit) and waits to be adopted (Standby); the rest is unset.
	Standby bool `json:"standby,omitempty"`
	serving
}

// serving holds the knobs a worker applies to its connections.
type serving struct {
	KeepAlive                bool          `json:"keepalive"`
	KeepAliveTimeout         time.Duration `json:"keepalive_timeout"`
	MaxKeepAliveRequests     int           `json:"max_keepalive_requests"`
	MaxConnectionsPerChild   int           `json:"max_connections_per_child"`   // 0: unlimited
	Connections              int           `json:"connections"`                 // reactor: worker_connections
	AsyncRequestWorkerFactor int           `json:"async_request_worker_factor"` // event
	Timeout                  time.Duration `json:"timeout"`                     // per request
	LimitRequestBody         int           `json:"limit_request_body"`          // bytes
	ThreadPoolThreads        int           `json:"thread_pool_threads"`         // the process's thread pool
	ThreadPoolMaxQueue       int           `json:"thread_pool_max_queue"`
}

// RunWorker is the body of the hidden "mpmlab worker" command. It returns
// only on a setup error; otherwise the process exits from within.
func RunWorker() error {
	var spec workerSpec
	if err := json.Unmarshal([]byte(os.Getenv(workerSpecEnv)), &spec); err != nil {
		return fmt.Errorf("mpmlab worker is started by mpmlab run, bench or serve, not by hand (%s: %v)", workerSpecEnv, err)
	}
	w := &worker{spec: spec, start: time.Now(), inflight: map[uint64]*inflight{}, busyConns: map[net.Conn]bool{}, idleConns: map[net.Conn]bool{},
		fds: inheritedFDs}
	var mod *runtime.Module
	var err error
	if spec.Standby {
		w.fds = workerFDs{-1, -1, -1} // until its adoption
		mod, err = w.standBy()
		if err != nil && w.fds.events < 0 {
			return err // no event pipe: the error goes to stderr
		}
	}
	w.events = newEventWriter(os.NewFile(uintptr(w.fds.events), "mpmlab-events"))
	if err == nil {
		w.policy, err = PolicyOf(w.spec.Model)
	}
	if err != nil {
		w.emit(stream.Event{Kind: stream.EventExit, Cause: "setup: " + err.Error(), Status: exitSetup})
		w.events.close()
		return err
	}
	err = w.run(mod) // returns only if the worker could not start; else it exits from within
	w.emit(stream.Event{Kind: stream.EventExit, Cause: "setup: " + err.Error(), Status: exitSetup})
	w.events.close()
	return err
}

// workerFDs are the descriptors a worker is given: inherited as fds 3, 4
// and 5, or (a standby worker) received at its adoption.
type workerFDs struct{ listen, events, board int }

// inheritedFDs are the descriptors of a worker the supervisor spawned.
var inheritedFDs = workerFDs{listenFD, eventFD, boardFD}

// standBy is a standby worker's wait (Standby): it loads the module its
// spec names, hands back what loading left as garbage, says so on its
// socket (fd 3), and waits for a supervisor to adopt it, with the full
// spec and the worker's three descriptors. It returns the loaded module,
// the worker set up as the new spec says; if the pool drops it instead
// (the socket closes), the process exits. An error after the descriptors
// arrived leaves them in w.fds, so that the supervisor hears of it on the
// event pipe.
func (w *worker) standBy() (*runtime.Module, error) {
	mod, err := w.load(context.Background())
	if err != nil {
		return nil, err
	}
	// The module's bytes and wazero's decoding and validation garbage,
	// about 11 MB, would otherwise stay resident as long as it waits (up
	// to standbyIdle): no collection runs in a process that allocates
	// nothing. It also makes the collection after its adoption
	// (releaseStartupMemory) shorter.
	debug.FreeOSMemory()
	sock := listenFD // a standby's fd 3 is its socket
	if _, err := unix.Write(sock, []byte{1}); err != nil {
		os.Exit(exitRetired) // the pool is gone
	}
	buf := make([]byte, maxSpecSize)
	oob := make([]byte, unix.CmsgSpace(3*4))
	var n, oobn, flags int
	for {
		n, oobn, flags, _, err = unix.Recvmsg(sock, buf, oob, recvmsgFlags)
		if err != unix.EINTR {
			break
		}
	}
	if err == nil && n == 0 {
		os.Exit(exitRetired) // dropped before it was adopted
	}
	if err != nil {
		return nil, fmt.Errorf("standby: waiting for a model: %w", err)
	}
	unix.Close(sock)
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return nil, errors.New("standby: the adoption was cut short")
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("standby: %w", err)
	}
	w.fds = fds
	var spec workerSpec
	if err := json.Unmarshal(buf[:n], &spec); err != nil {
		return nil, fmt.Errorf("standby: spec: %w", err)
	}
	if spec.Standby || spec.Interpreter || spec.Wasm != w.spec.Wasm || spec.CacheDir != w.spec.CacheDir || spec.MemoryLimit != w.spec.MemoryLimit {
		return nil, errors.New("standby: adopted for another module than the one it loaded")
	}
	w.spec, w.start = spec, time.Now()
	return mod, nil
}

// maxSpecSize bounds a workerSpec sent to a standby worker (its
// environment is the largest part, bounded by the experiment's limits).
const maxSpecSize = 1 << 20

// receivedFDs parses the three descriptors of an adoption.
func receivedFDs(oob []byte) (workerFDs, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return workerFDs{}, fmt.Errorf("no descriptors in the adoption (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 3 {
		return workerFDs{}, fmt.Errorf("want 3 descriptors in the adoption, got %d (%v)", len(fds), err)
	}
	return workerFDs{listen: fds[0], events: fds[1], board: fds[2]}, nil
}

type worker struct {
	spec   workerSpec
	fds    workerFDs
	start  time.Time
	events *eventWriter
	pid    int

	policy Policy
	gate   gate // the model's accept policy (accept.go)

	engine *runtime.Engine
	pool   *runtime.Pool // guest.Pool: one per process
	lanes  []*lane
	board  *boardRow     // the lanes' states, shared with the supervisor
	ln     net.Listener  // set under mu (die may come first)
	srv    *http.Server  // set under mu
	conns  atomic.Uint64 // connections accepted
	reqs   atomic.Uint64
	// writing counts requests in a guest: a loop's "Writing" (stub_status).
	writing atomic.Int64
	passes  passBatcher // the reactor's loop passes, when tracing
	held    *pHolder    // process and reactor: the second P, while requests flow

	mu         sync.Mutex
	inflight   map[uint64]*inflight
	dying      bool
	deathCause string

	connMu    sync.Mutex
	busyConns map[net.Conn]bool // connections new or serving a request
	idleConns map[net.Conn]bool // keep-alive connections between requests
	quietOnce sync.Once
}

// lane is one guest instance: a prefork process's only instance, one thread
// of a worker process, or the reactor's loop.
type lane struct {
	index   int
	inst    *runtime.Instance
	loop    loopClock // inst.Loop(): the passes of its loop
	label   string
	header  []string       // X-Mpmlab-Worker: "thread 0.2 (pid 4242)", "(pid 4242, interpreter)"
	state   *atomic.Uint32 // its laneState word on the scoreboard
	deadman *deadman
}

type inflight struct {
	lane   *lane
	cancel context.CancelCauseFunc
	st     *runtime.Stream // once open
}

// Causes with which a worker cancels requests in flight.
var (
	errRunaway = errors.New("runaway")
	errCrash   = errors.New("crash")
)

// run starts the worker and serves: its guests first, then its share of the
// listening socket. It returns only if the worker could not start;
// otherwise the process exits from within (die, retire).
//
// mod is the module a standby worker loaded; nil, it loads it first.
func (w *worker) run(mod *runtime.Module) error {
	w.pid = os.Getpid()
	n := max(w.spec.Lanes, 1)
	w.reserveThreads(n)
	ctx := context.Background()
	if mod == nil {
		var err error
		if mod, err = w.load(ctx); err != nil {
			return err
		}
	}
	if err := mod.CodeShared(); err != nil && !w.spec.Interpreter {
		w.emit(stream.Event{Kind: stream.EventLog, Stream: "stderr", Text: "mpmlab: " + err.Error()})
	}
	var err error
	if w.board, err = openBoardRow(w.fds.board, n); err != nil {
		return err
	}
	if err := w.startLanes(ctx, mod, n); err != nil {
		return err
	}
	w.releaseModule(mod)
	w.awaitStartup()
	w.releaseStartupMemory(mod)
	ln, err := w.listen()
	if err != nil {
		return err
	}
	if !w.publish(ln, w.newServer()) {
		select {} // a guest died while starting: die exits
	}
	w.announceReady()
	w.startBackground()
	w.serve()
	return nil // not reached: serve ends the process
}

// reserveThreads raises GOMAXPROCS, in a threaded model, so that each of
// its n threads has a P of its own: every thread runs its guest on an OS
// thread of its own, and a spinning guest cannot be preempted. (The pool
// adds its threads' when they start: runtime.Pool.)
func (w *worker) reserveThreads(n int) {
	if w.policy.Threads() {
		goruntime.GOMAXPROCS(n + 2)
	}
}

// load reads the guest, makes the worker's engine and compiles the guest
// with it (compile).
func (w *worker) load(ctx context.Context) (*runtime.Module, error) {
	wasm, err := os.ReadFile(w.spec.Wasm)
	if err != nil {
		return nil, err
	}
	w.engine, err = runtime.NewEngine(ctx, runtime.EngineConfig{
		CacheDir:    w.spec.CacheDir,
		MemoryLimit: w.spec.MemoryLimit,
		Interpreter: w.spec.Interpreter,
		SharePages:  true, // one copy of the machine code and the data for every worker
	})
	if err != nil {
		return nil, err
	}
	return w.compile(ctx, wasm)
}

// openBoardRow maps the worker's row of the scoreboard (fd), a word for
// each of its lanes; the descriptor is closed, the mapping stays.
func openBoardRow(fd, lanes int) (*boardRow, error) {
	f := os.NewFile(uintptr(fd), "mpmlab-scoreboard")
	row, err := mapBoardRow(f, lanes)
	if err != nil {
		return nil, err
	}
	f.Close()
	return row, nil
}

// startLanes starts the worker's n guest instances, one per lane, and
// watches each (watch). The lanes share the process's data files, its
// guest.Shared and its thread pool.
func (w *worker) startLanes(ctx context.Context, mod *runtime.Module, n int) error {
	files, err := readFiles(w.spec.Files)
	if err != nil {
		return err
	}
	shared := runtime.NewShared() // guest.Shared: one per process
	w.pool = runtime.NewPool(runtime.PoolConfig{Threads: w.spec.ThreadPoolThreads, MaxQueue: w.spec.ThreadPoolMaxQueue})
	for i := 0; i < n; i++ {
		if err := w.startLane(ctx, mod, i, files, shared); err != nil {
			return err
		}
	}
	return nil
}

// startLane starts lane i's instance and adds the lane to w.lanes.
func (w *worker) startLane(ctx context.Context, mod *runtime.Module, i int, files *runtime.Files, shared *runtime.Shared) error {
	guard, err := newDeadman(w.spec.Timeout, deadmanGrace, &w.board.guards[i])
	if err != nil {
		w.emit(stream.Event{Kind: stream.EventLog, Stream: "stderr", Text: fmt.Sprintf("mpmlab: no kernel backstop against a frozen guest on lane %d (%v): a runaway that freezes the process is stopped only by the supervisor's heartbeat check", i, err)})
	}
	l := &lane{index: i, label: w.laneLabel(i), state: &w.board.lanes[i], deadman: guard}
	l.header = []string{fmt.Sprintf("%s (pid %d)", l.label, w.pid)}
	if w.spec.Interpreter {
		l.header = []string{fmt.Sprintf("%s (pid %d, interpreter)", l.label, w.pid)}
	}
	l.inst, err = mod.Start(ctx, w.instanceConfig(l, files, shared))
	if err != nil {
		return err
	}
	if err := l.inst.MemoryShared(); err != nil && i == 0 {
		w.emit(stream.Event{Kind: stream.EventLog, Stream: "stderr", Text: "mpmlab: " + err.Error()})
	}
	l.loop = l.inst.Loop()
	w.lanes = append(w.lanes, l)
	go w.watch(l)
	return nil
}

// instanceConfig is lane l's instance: its environment (the experiment's,
// then the SDK's MPMLAB_* variables) and the callbacks by which its guest
// reports to the worker: log lines, a handler's start, blocking calls, and
// while tracing the pool's tasks and (a loop) its lag and passes.
func (w *worker) instanceConfig(l *lane, files *runtime.Files, shared *runtime.Shared) runtime.InstanceConfig {
	env := []string{
		"MPMLAB_MODEL=" + string(w.spec.Model),
		"MPMLAB_PROCESS=" + strconv.Itoa(w.spec.Process),
		"MPMLAB_THREAD=" + strconv.Itoa(l.index),
		"MPMLAB_PID=" + strconv.Itoa(w.pid),
	}
	env = append(slices.Clip(w.spec.Env), env...) // the experiment's, then the SDK's
	cfg := runtime.InstanceConfig{
		Env:          env,
		Files:        files,
		Shared:       shared,
		Pool:         w.pool,
		NoPhases:     w.spec.NoPhases,
		LockOSThread: w.policy.Threads(),
		Log: func(std, line string) {
			w.emit(stream.Event{Kind: stream.EventLog, Lane: l.index, Stream: std, Text: line})
		},
		OnHandlerStart: func(id uint32, t time.Time) {
			if w.spec.Trace {
				w.emit(stream.Event{Kind: stream.EventReqRun, T: t.UnixNano(), Lane: l.index, Req: uint64(id)})
			}
		},
		OnBlock: func(blocked bool) {
			if blocked {
				w.setState(l, laneBlocked)
			} else {
				w.setState(l, laneSending)
			}
		},
	}
	if w.spec.Trace {
		cfg.OnPoolTask = func(t runtime.PoolTask) { w.emit(poolTaskEvent(l.index, t)) }
	}
	if !w.policy.Loop() && !w.spec.Interpreter && !slices.ContainsFunc(w.spec.Env, isGOGC) {
		cfg.Env = append(cfg.Env, "MPMLAB_GOGC="+strconv.Itoa(guestGCPercent))
	}
	if w.policy.Loop() && w.spec.Trace {
		// The lag monitor wakes the loop 100 times a second: only
		// when someone watches (the playground, the scoreboard).
		cfg.Env = append(cfg.Env, "MPMLAB_LAG=1")
		cfg.OnLag = w.lagSampler()
		cfg.OnPass = w.passes.add
	}
	return cfg
}

// releaseModule drops what wazero keeps for instantiating (Module.Release):
// no instance starts after the lanes' (a lane whose guest ends ends the
// process), so it is garbage. The interpreter, which runs the function
// bodies, keeps it.
func (w *worker) releaseModule(mod *runtime.Module) {
	if !w.spec.Interpreter {
		if err := mod.Release(); err != nil {
			w.emit(stream.Event{Kind: stream.EventLog, Stream: "stderr", Text: "mpmlab: " + err.Error()})
		}
	}
}

// awaitStartup waits until every guest has started up (the Go runtime's
// and the packages' init, main up to Serve): ready means serving, so that
// the first requests do not wait for it, and the supervisor's next steps
// (more workers, the compile to machine code) do not slow it. A guest
// that takes longer than a request may is reported ready anyway, and its
// requests wait for it, as they would without this.
func (w *worker) awaitStartup() {
	startup := time.After(w.spec.Timeout)
	for _, l := range w.lanes {
		select {
		case <-l.inst.Loop().Reading():
		case <-l.inst.Done(): // watch ends the worker
		case <-startup:
		}
	}
}

// releaseStartupMemory sets the worker's GOGC (gcPercent) and hands back
// to the kernel the heap that starting the guests used and no longer
// needs: the module's bytes (as read, and as runtime packs them), the
// garbage of wazero's decoding and validation, and what Module.Release
// dropped, tens of MiB in all. Go's scavenger would return them too, but
// only over minutes; a prefork pool of idle processes would hold them all
// that time. It also unmaps from the process the pages of code that
// start-up ran and serving may not (Module.DropCodePages,
// DropBinaryPages): they stay in the page cache, and what the worker runs
// next is mapped again. (See RATIONALE.md, "A worker's memory".) It runs
// once the guests have started up, before the worker says it is ready, so
// that its collection competes neither with their start nor with the
// first requests.
//
// Not on the interpreter: its compiled form of the guest is about 110 MB
// of live heap (compile), which a forced collection would mark in full
// before the worker is ready, delaying the first requests, which are the
// point of serving on the interpreter, for little garbage.
func (w *worker) releaseStartupMemory(mod *runtime.Module) {
	if w.spec.Interpreter {
		return
	}
	if p, ok := gcPercent(w.policy); ok && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(p)
	}
	debug.FreeOSMemory()
	for _, err := range []error{mod.DropCodePages(), runtime.DropBinaryPages()} {
		if err != nil {
			w.emit(stream.Event{Kind: stream.EventLog, Stream: "stderr", Text: "mpmlab: " + err.Error()})
		}
	}
}

// gcPercent is the GOGC a serving worker of the policy sets, if any:
// workerGCPercent for a prefork process or a loop, none (Go's default)
// for a worker with threads.
func gcPercent(p Policy) (int, bool) {
	if p.Threads() {
		return 0, false
	}
	return workerGCPercent, true
}

// listen opens the listening socket the worker was given (w.fds) and puts
// the model's accept policy in front of it (gate).
func (w *worker) listen() (net.Listener, error) {
	lnFile := os.NewFile(uintptr(w.fds.listen), "mpmlab-listener")
	inner, err := net.FileListener(lnFile)
	if err != nil {
		return nil, fmt.Errorf("listening socket: %w", err)
	}
	lnFile.Close()
	w.gate = w.policy.gate(w, inner)
	return w.gate, nil
}

// newServer is the worker's net/http server: the worker is its handler,
// and it applies the keep-alive knobs.
func (w *worker) newServer() *http.Server {
	srv := &http.Server{
		Handler:           w,
		IdleTimeout:       w.spec.KeepAliveTimeout,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       connContext,
		ConnState:         w.connState,
		ErrorLog:          nil,
	}
	srv.SetKeepAlivesEnabled(w.spec.KeepAlive)
	return srv
}

// publish hands the listener and server to die and retire, which may
// already be under way: it reports false if a guest died while the worker
// was starting (die, then, could not close them and exits on its own).
func (w *worker) publish(ln net.Listener, srv *http.Server) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ln, w.srv = ln, srv
	return !w.dying
}

// announceReady marks every lane idle and tells the supervisor the worker
// is ready, with how long it took to start.
func (w *worker) announceReady() {
	for _, l := range w.lanes {
		// A fresh row already reads idle; the live view still wants to
		// hear it, as its first state of the lane.
		l.state.Store(uint32(laneIdle))
		if w.spec.Trace {
			w.emit(stream.Event{Kind: stream.EventState, Lane: l.index, State: stream.StateIdle})
		}
	}
	w.emit(stream.Event{Kind: stream.EventReady, Dur: int64(time.Since(w.start))})
}

// startBackground starts what runs beside serving: the heartbeat, the
// holder of the second P (process and reactor: pHolder), the trace senders
// the model and --trace call for, and the wait for the supervisor's signal
// to stop.
func (w *worker) startBackground() {
	go w.heartbeat()
	if !w.policy.Threads() {
		w.held = startPHolder()
	}
	if w.policy.Loop() && w.spec.Trace {
		go w.traceLoop()
	}
	if !w.policy.Loop() && !w.policy.PinsLane() && w.spec.Trace {
		go w.traceListener()
	}
	if w.spec.Trace {
		go w.tracePool()
	}
	go w.onSignal()
}

// serve serves until the listener fails, and never returns: a graceful
// stop (retire) exits the process, a failed accept ends the worker (die).
func (w *worker) serve() {
	switch err := w.srv.Serve(w.ln); {
	case errors.Is(err, http.ErrServerClosed):
		select {} // retire is shutting down gracefully and will exit
	default:
		w.die(fmt.Sprintf("accept: %v", err), exitSetup, errCrash)
	}
}

// compile compiles the guest for this worker: a load from the compilation
// cache on machine code; on the interpreter, a compile of its own, with the
// garbage collector off: the interpreter's form of the guest (about 110 MB
// for a typical guest) is built up as live heap, so the collections the
// heap's growth would trigger find almost nothing to free, and skipping
// them answers the first request some 20 ms sooner (16 MB more at the peak).
func (w *worker) compile(ctx context.Context, wasm []byte) (*runtime.Module, error) {
	if w.spec.Interpreter {
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	return w.engine.Compile(ctx, wasm)
}

func (w *worker) laneLabel(i int) string { return w.policy.LaneLabel(w.spec.Process, i) }

// ServeHTTP passes one request into the connection's lane.
func (w *worker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	cs := r.Context().Value(connKey{}).(*connState)
	l, done, ok := w.admit(rw, cs)
	if !ok {
		return
	}
	defer done()
	defer w.held.finished()
	cs.requests++
	id := w.reqs.Add(1)
	start := time.Now()
	w.setHostHeader(rw, cs, l)
	if w.refuseBody(rw, r) {
		return
	}
	req, ok := newRequest(rw, r, id)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if !w.register(rw, id, l, cancel) {
		return
	}
	defer w.unregister(id)
	if !w.policy.Loop() {
		w.setState(l, laneSending)
	}
	w.writing.Add(1)
	defer w.writing.Add(-1)
	if w.spec.Trace {
		w.emit(stream.Event{Kind: stream.EventReqStart, Lane: l.index, Conn: cs.id, Req: id, Method: r.Method, Path: r.RequestURI, Group: groupOf(r), Sent: sentOf(r)})
	}
	wd := w.startWatchdog(l, id, cancel)
	defer wd.stop()
	rel := relay{l: l, rw: rw, r: r, limit: int64(w.spec.LimitRequestBody), wd: wd, hostHeader: rw.Header().Clone()}
	st, err := l.inst.Open(req)
	if err == nil {
		w.opened(id, st)
		err = rel.run(ctx, st)
		st.Close()
	}
	status, cause := rel.status, ""
	if err != nil {
		status, cause = w.answerFailure(ctx, rw, l, err, rel.wroteHead)
	}
	if w.spec.Trace {
		w.traceEnd(r, cs, l, id, start, st, &rel, status, cause)
	}
	if err != nil && rel.wroteHead {
		panic(http.ErrAbortHandler) // the head is out: all net/http can do is cut the connection
	}
}

// admit asks the model's gate for the lane that serves the request: the
// one the connection holds, or (event) a thread handed out for this
// request alone, with done to call once it is served. When it gets none it
// answers the client itself and reports false.
func (w *worker) admit(rw http.ResponseWriter, cs *connState) (*lane, func(), bool) {
	l, done, err := w.gate.serve(cs)
	switch {
	case errors.Is(err, errNoThread):
		// Apache event's listener closes a kept-alive connection whose
		// request finds no idle thread, unanswered: its client retries on
		// a new connection, through the backlog.
		if c, _, err := http.NewResponseController(rw).Hijack(); err == nil {
			if sd, ok := w.gate.(interface{ shutdown(net.Conn, bool) }); ok {
				sd.shutdown(c, true)
			} else {
				c.Close()
			}
			return nil, nil, false
		}
		fallthrough
	case err != nil:
		rw.Header().Set("Connection", "close")
		http.Error(rw, err.Error(), http.StatusServiceUnavailable)
		return nil, nil, false
	}
	return l, done, true
}

// setHostHeader puts the worker's own fields in the response's header:
// which lane served it (X-Mpmlab-Worker), and "Connection: close" once the
// connection has served MaxKeepAliveRequests.
func (w *worker) setHostHeader(rw http.ResponseWriter, cs *connState, l *lane) {
	rw.Header()["X-Mpmlab-Worker"] = l.header
	if w.spec.KeepAlive && w.spec.MaxKeepAliveRequests > 0 && cs.requests >= w.spec.MaxKeepAliveRequests {
		rw.Header().Set("Connection", "close") // MaxKeepAliveRequests reached
	}
}

// refuseBody answers 413 to a request whose body, of known length, is over
// the limit, before the handler runs (Apache's LimitRequestBody), and
// reports whether it did; a chunked one fails the handler's read once it
// passes the limit (limitedBody).
func (w *worker) refuseBody(rw http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > int64(w.spec.LimitRequestBody) {
		rw.Header().Set("Connection", "close")
		http.Error(rw, "request body over "+strconv.Itoa(w.spec.LimitRequestBody)+" bytes (LimitRequestBody, --limit-request-body)", http.StatusRequestEntityTooLarge)
		return true
	}
	return false
}

// newRequest is r as the guest gets it. A small body of known length goes
// inline, read now: one frame, as for a request without one. Any other
// streams into the guest as its handler reads it (and only then is
// "Expect: 100-continue" answered, by net/http). If the inline body cannot
// be read, it answers 400 and reports false.
func newRequest(rw http.ResponseWriter, r *http.Request, id uint64) (*abi.Request, bool) {
	req := &abi.Request{
		ID:     uint32(id),
		Method: r.Method, URI: r.RequestURI, Host: r.Host, RemoteAddr: r.RemoteAddr,
		Header: r.Header, Proto: r.Proto, ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Close: r.Close,
	}
	if r.Body != http.NoBody {
		if r.ContentLength > 0 && r.ContentLength <= inlineBody && r.Header.Get("Expect") == "" {
			var err error
			if req.Body, err = io.ReadAll(r.Body); err != nil {
				http.Error(rw, "request body unreadable: "+err.Error(), http.StatusBadRequest)
				return nil, false
			}
		} else {
			req.Stream = true
		}
	}
	return req, true
}

// register adds request id, on lane l, to the requests in flight, which a
// dying worker cancels with its cause (die). A worker already dying takes
// none: it answers 503 and reports false.
func (w *worker) register(rw http.ResponseWriter, id uint64, l *lane, cancel context.CancelCauseFunc) bool {
	w.mu.Lock()
	if w.dying {
		w.mu.Unlock()
		rw.Header().Set("Connection", "close")
		http.Error(rw, "worker is shutting down", http.StatusServiceUnavailable)
		return false
	}
	w.inflight[id] = &inflight{lane: l, cancel: cancel}
	w.mu.Unlock()
	return true
}

// opened notes request id's stream, once open.
func (w *worker) opened(id uint64, st *runtime.Stream) {
	w.mu.Lock()
	if f := w.inflight[id]; f != nil {
		f.st = st
	}
	w.mu.Unlock()
}

// unregister removes request id from the requests in flight. ServeHTTP
// defers it so that a request leaves the set only once its response is on
// the wire: a dying worker waits for that set to empty before it exits.
func (w *worker) unregister(id uint64) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

// startWatchdog starts a request's --timeout on lane l: past it, cutOff
// cancels the request and ends the worker. Without --timeout it is nil,
// which does nothing.
func (w *worker) startWatchdog(l *lane, id uint64, cancel context.CancelCauseFunc) *watchdog {
	if w.spec.Timeout <= 0 {
		return nil
	}
	return newWatchdog(w.spec.Timeout, l.deadman, func() { w.cutOff(l, id, cancel) })
}

// answerFailure turns why a request got no response (err) into its status
// and cause (failure), and answers the client with them unless the
// guest's head is already out (wroteHead).
func (w *worker) answerFailure(ctx context.Context, rw http.ResponseWriter, l *lane, err error, wroteHead bool) (int, string) {
	status, cause := w.failure(ctx, l, err)
	if !wroteHead {
		rw.Header().Set("Connection", "close")
		http.Error(rw, cause, status)
		rw.(http.Flusher).Flush()
	}
	return status, cause
}

// traceEnd sends a request's end event: how it ended, what it cost, and
// its phases as its stream measured them (none if st is nil: the stream
// did not open).
func (w *worker) traceEnd(r *http.Request, cs *connState, l *lane, id uint64, start time.Time, st *runtime.Stream, rel *relay, status int, cause string) {
	var ph runtime.Phases
	if st != nil {
		ph = st.Phases()
	}
	w.emit(stream.Event{Kind: stream.EventReqEnd, Lane: l.index, Conn: cs.id, Req: id, Status: status, Bytes: rel.bytes, Dur: int64(time.Since(start)), Cause: cause,
		Method: r.Method, Path: r.RequestURI, Group: groupOf(r), Cancelled: rel.cancelled,
		Wait: int64(ph.Wait), Service: int64(ph.Service), Run: int64(ph.Run), Compute: int64(ph.Compute), Block: int64(ph.Block),
		Hold: int64(ph.Hold), Where: ph.HoldWhere})
}

// inlineBody is the largest request body the worker reads before the
// handler runs, to send it with the request's head.
const inlineBody = 16 << 10

// relay carries one request's stream between the client's connection
// (net/http's ResponseWriter and Request) and the guest. What the guest
// sends is replayed on net/http as the handler did it (WriteHeader, Write,
// Flush, trailers, Hijack), so that net/http's own rules (framing,
// Content-Type sniffing, 1xx, trailers) apply as they would natively.
type relay struct {
	l     *lane
	rw    http.ResponseWriter
	r     *http.Request
	limit int64
	wd    *watchdog // nil without --timeout
	// hostHeader is what the worker put in the header (X-Mpmlab-Worker,
	// Connection: close): kept whatever the guest sends.
	hostHeader http.Header

	status    int
	bytes     int64
	wroteHead bool
	cancelled bool     // the client went away
	conn      net.Conn // the client's connection, once hijacked
	reads     chan readReq
}

// readReq is a guest's KindRead: n bytes at most from src.
type readReq struct {
	src io.Reader
	n   int
}

// run relays until the guest ends the stream. It fails if the guest does
// not end it: the instance ended, or ctx (the worker's) was cancelled.
func (x *relay) run(ctx context.Context, st *runtime.Stream) error {
	var src io.Reader = &limitedBody{r: x.r.Body, left: x.limit}
	gone := x.r.Context().Done() // net/http: the client closed its connection
	defer func() {
		if x.reads != nil {
			close(x.reads)
		}
	}()
	for {
		f, ok := st.Take()
		if !ok {
			select {
			case <-st.Ready():
			case <-gone:
				gone = nil
				x.cancel(st)
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-x.l.inst.Done():
				if f, ok = st.Take(); !ok {
					return x.l.inst.Err()
				}
			}
			if !ok {
				continue
			}
		}
		x.wd.progress()
		switch f.Kind {
		case abi.KindInterim:
			if !x.cancelled && x.conn == nil && !x.wroteHead && f.N >= 100 && f.N < 200 {
				x.setHeader(f.Header)
				x.rw.WriteHeader(int(f.N))
			}
		case abi.KindHead:
			if err := x.head(f.N, f.Header); err != nil {
				return err
			}
		case abi.KindData:
			x.write(st, f.Data, f.Flags&abi.FlagFlush != 0)
			st.Send(&abi.Frame{Kind: abi.KindWindow, N: uint32(len(f.Data))})
		case abi.KindRead:
			if x.reads == nil {
				x.reads = make(chan readReq, 1)
				go pump(st, x.reads, x.wd)
			}
			x.wd.pause() // until the client's bytes are there
			x.reads <- readReq{src, int(min(f.N, abi.MaxData))}
		case abi.KindHijack:
			if x.wroteHead || x.conn != nil {
				return errors.New("handler hijacked a connection it had written to")
			}
			c, brw, err := http.NewResponseController(x.rw).Hijack()
			if err != nil {
				return fmt.Errorf("hijack: %w", err)
			}
			x.conn, src, gone = c, brw.Reader, nil
			x.wroteHead, x.status = true, http.StatusSwitchingProtocols
			defer c.Close()
		case abi.KindResponse:
			// The guest is done with the request: what is left is the
			// host's (writing to the client), which --timeout does not
			// bound, so the watchdog goes now rather than be paused and
			// resumed around the write (its deadman's timer_settime calls).
			x.wd.stop()
			if x.r.Header[phasesHeader] != nil {
				// A whole response: its phases are known before its head
				// goes (a streamed one's are not, and it has none).
				x.hostHeader[phasesHeader] = []string{formatPhases(st.Phases())}
			}
			if err := x.head(f.N, f.Header); err != nil {
				return err
			}
			if len(f.Data) > 0 {
				x.write(st, f.Data, false)
			}
			x.trailers(f.Trailer)
			return nil
		case abi.KindEnd:
			x.wd.stop()
			x.trailers(f.Trailer)
			return nil
		}
	}
}

// cancel tells the guest that the client went away; from then on what the
// handler writes is dropped (and acknowledged, so it never waits for it).
func (x *relay) cancel(st *runtime.Stream) {
	if !x.cancelled {
		x.cancelled = true
		st.Send(&abi.Frame{Kind: abi.KindCancel})
	}
}

// setHeader makes the response's header the guest's, plus the worker's.
func (x *relay) setHeader(g http.Header) {
	h := x.rw.Header()
	clear(h)
	for k, v := range g {
		h[k] = v
	}
	for k, v := range x.hostHeader {
		h[k] = v
	}
}

// head sends the response's head.
func (x *relay) head(status uint32, h http.Header) error {
	if x.wroteHead {
		return nil
	}
	if status < 200 || status > 999 {
		return fmt.Errorf("handler wrote invalid status %d", status)
	}
	x.wroteHead, x.status = true, int(status)
	if !x.cancelled {
		x.setHeader(h)
		x.rw.WriteHeader(int(status))
	}
	return nil
}

// write sends body (or, hijacked, connection) bytes to the client; a
// failed write means the client went away.
func (x *relay) write(st *runtime.Stream, b []byte, flush bool) {
	if x.cancelled {
		return
	}
	x.wd.pause() // a slow client is not a runaway guest
	defer x.wd.resume()
	var err error
	if x.conn != nil {
		_, err = x.conn.Write(b)
	} else {
		if len(b) > 0 {
			_, err = x.rw.Write(b)
		}
		if err == nil && flush {
			err = http.NewResponseController(x.rw).Flush()
		}
	}
	x.bytes += int64(len(b))
	if err != nil {
		x.cancel(st)
	}
}

// trailers sets the trailers the handler left (net/http sends them).
func (x *relay) trailers(t http.Header) {
	if x.cancelled || x.conn != nil {
		return
	}
	h := x.rw.Header()
	for k, v := range t {
		h[k] = v
	}
}

// pump answers a guest's KindRead requests, one at a time, with what the
// client sends: on a goroutine of its own, so that a client slow to send
// its body does not hold up the response.
func pump(st *runtime.Stream, reads <-chan readReq, wd *watchdog) {
	buf := make([]byte, abi.MaxData)
	for rq := range reads {
		var n int
		var err error
		for n == 0 && err == nil {
			n, err = rq.src.Read(buf[:rq.n])
		}
		switch {
		case n > 0:
			st.Send(&abi.Frame{Kind: abi.KindData, Data: buf[:n]})
		case err == io.EOF:
			st.Send(&abi.Frame{Kind: abi.KindEOF})
		default:
			st.Send(&abi.Frame{Kind: abi.KindEOF, Data: []byte(err.Error())})
		}
		wd.resume()
	}
}

// watchdog is a request's --timeout (the Go timer of "How a runaway
// request is stopped" in RATIONALE.md, and its lane's deadman). It runs
// while the request is its guest's to move on, and is re-armed whenever
// the guest sends a frame (progress): a stream that keeps sending lives
// on, as Apache's Timeout bounds each wait rather than the request. It is
// paused while the worker owes the guest something: body bytes the
// handler asked for that the client has not sent yet, a write to a client
// slow to read. A nil watchdog does nothing.
type watchdog struct {
	limit time.Duration
	dm    *deadman
	t     *time.Timer

	mu      sync.Mutex
	owed    int       // pauses not yet resumed
	end     func()    // ends the deadman's record; nil while paused
	armed   time.Time // when the timer was last armed
	stopped bool
}

func newWatchdog(limit time.Duration, dm *deadman, fire func()) *watchdog {
	return &watchdog{limit: limit, dm: dm, t: time.AfterFunc(limit, fire), end: dm.start(), armed: time.Now()}
}

// progress re-arms the timer (at most every limit/8: a Reset per frame of
// a fast stream would cost more than it tells).
func (d *watchdog) progress() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owed == 0 && !d.stopped && time.Since(d.armed) >= d.limit/8 {
		d.rearm()
	}
}

func (d *watchdog) rearm() {
	d.t.Reset(d.limit)
	if d.end != nil {
		d.end()
	}
	d.end, d.armed = d.dm.start(), time.Now()
}

func (d *watchdog) pause() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owed++; d.owed == 1 && !d.stopped {
		d.t.Stop()
		d.end()
		d.end = nil
	}
}

func (d *watchdog) resume() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owed--; d.owed == 0 && !d.stopped {
		d.rearm()
	}
}

// stop ends the watchdog for good (the request is over, or its guest's
// part of it); stopping it again does nothing.
func (d *watchdog) stop() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	d.t.Stop()
	if d.end != nil {
		d.end()
		d.end = nil
	}
}

// limitedBody is a request body cut at LimitRequestBody, failing as
// net/http's MaxBytesReader does past it.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.r.Read(one[:]); n == 0 {
			return 0, io.EOF // exactly at the limit is fine
		}
		return 0, errors.New("http: request body too large (LimitRequestBody, --limit-request-body)")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// groupOf is the name of the load group a request belongs to, as the
// load generator labels it (experiment.GroupHeader), cut to the longest
// name a group may have; "" if it has none.
func groupOf(r *http.Request) string {
	g := r.Header.Get(experiment.GroupHeader)
	if len(g) > experiment.MaxGroupName {
		g = g[:experiment.MaxGroupName]
	}
	return g
}

// sentOf is when the load generator sent the request
// (experiment.SentHeader, Unix ns), 0 if it did not say.
func sentOf(r *http.Request) int64 {
	v := r.Header.Get(experiment.SentHeader)
	if v == "" {
		return 0
	}
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil || t < 0 {
		return 0
	}
	return t
}

// phasesHeader asks for a request's server-side phases: a request that
// carries it (any value) gets them back in a response header of the same
// name, as formatPhases writes them. mpmlab bench uses it.
const phasesHeader = PhasesHeader

// formatPhases writes p as ParsePhases reads it.
func formatPhases(p runtime.Phases) string {
	var buf [128]byte
	return string(AppendPhases(buf[:0], RequestPhases{Wait: p.Wait, Service: p.Service, Run: p.Run, Hold: p.Hold, Where: p.HoldWhere}))
}

// failure turns why a request got no response into a status and message.
func (w *worker) failure(ctx context.Context, l *lane, err error) (int, string) {
	if errors.Is(context.Cause(ctx), errRunaway) {
		return http.StatusGatewayTimeout, fmt.Sprintf("mpmlab: %s: request exceeded its timeout (%v); the worker was killed", l.label, w.spec.Timeout)
	}
	if exit := l.inst.Err(); exit != nil {
		return http.StatusBadGateway, fmt.Sprintf("mpmlab: %s crashed: %v", l.label, exit)
	}
	if errors.Is(context.Cause(ctx), errCrash) {
		w.mu.Lock()
		why := w.deathCause
		w.mu.Unlock()
		return http.StatusBadGateway, fmt.Sprintf("mpmlab: %s died with its process (%s)", l.label, why)
	}
	return http.StatusBadGateway, fmt.Sprintf("mpmlab: %s: %v", l.label, err)
}

// watch waits for a lane's instance to end. Any guest that dies takes its
// whole process down (every thread of it), and the supervisor replaces it.
func (w *worker) watch(l *lane) {
	<-l.inst.Done()
	err := l.inst.Err()
	w.setState(l, laneDead)
	w.die(fmt.Sprintf("%s crashed: %v", l.label, err), exitCrash, errCrash)
}

// cutOff ends the worker running a request that exceeded --timeout: a
// spinning guest cannot be stopped any other way without slowing every
// guest loop (RATIONALE.md). The request holding the lane (culprit) gets a
// 504, the others fail with the worker.
func (w *worker) cutOff(l *lane, id uint64, cancel context.CancelCauseFunc) {
	w.culprit(l, id, cancel)(errRunaway)
	w.die(fmt.Sprintf("runaway: a request on %s exceeded its timeout (%v)", l.label, w.spec.Timeout), exitRunaway, errCrash)
}

// culprit is the cancel of the request to blame when the timer of request
// id (whose cancel is fired) runs out on lane l: that request, unless its
// handler never began, when it is the request holding the lane's guest
// (runtime.Instance.Holder). On a loop a request waiting for a loop another
// holds hears nothing for as long, and its timer, armed first, may run out
// first: it is not the runaway. A request that has run keeps the blame:
// it may be the one spinning, resumed since the holder's last mark.
func (w *worker) culprit(l *lane, id uint64, fired context.CancelCauseFunc) context.CancelCauseFunc {
	h := l.inst.Holder()
	if h == 0 {
		return fired
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := w.inflight[id]; f == nil || f.st != nil && f.st.Began() {
		return fired
	}
	for _, f := range w.inflight {
		if f.lane == l && f.st != nil && f.st.ID() == h {
			return f.cancel
		}
	}
	return fired
}

// die stops taking connections, fails every request in flight with cause,
// waits until every response is on the wire, reports the exit and ends the
// process.
//
// Connections not yet accepted stay in the kernel's accept queue for the
// other workers or the replacement, as with Apache's children: a dying
// worker must not take one only to drop it when it exits.
func (w *worker) die(cause string, code int, reqCause error) {
	w.mu.Lock()
	if w.dying {
		w.mu.Unlock()
		select {} // someone else is already exiting
	}
	w.dying = true
	w.deathCause = cause
	ln, srv := w.ln, w.srv
	for _, f := range w.inflight {
		f.cancel(reqCause)
	}
	w.mu.Unlock()
	if ln != nil {
		ln.Close()
		srv.SetKeepAlivesEnabled(false) // closes idle connections; the others after their response
	}
	w.drain(crashDrain)
	w.flushPasses()
	w.emit(stream.Event{Kind: stream.EventExit, Cause: cause, Status: code})
	w.events.close()
	os.Exit(code)
}

// drain waits until no connection is reading a request or writing a
// response (net/http reports a connection idle or closed only once its
// response is flushed), or for at most d.
func (w *worker) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		w.connMu.Lock()
		n := len(w.busyConns)
		w.connMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopping reports whether the worker is about to exit: it is dying, or the
// guest of one of its lanes has ended (and die is on its way).
func (w *worker) stopping() bool {
	w.mu.Lock()
	dying := w.dying
	w.mu.Unlock()
	if dying {
		return true
	}
	for _, l := range w.lanes {
		if l.inst != nil && l.inst.Err() != nil {
			return true
		}
	}
	return false
}

// retire ends a worker that is done by policy: it stops accepting, finishes
// its connections and exits cleanly.
func (w *worker) retire(cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.srv.Shutdown(ctx)
	w.mu.Lock()
	w.dying = true
	w.mu.Unlock()
	w.flushPasses()
	w.emit(stream.Event{Kind: stream.EventExit, Cause: cause, Status: exitRetired})
	w.events.close()
	os.Exit(exitRetired)
}

func (w *worker) heartbeat() {
	for range time.Tick(heartbeatInterval) {
		w.emit(stream.Event{Kind: stream.EventBeat})
	}
}

// traceInterval is how often a reactor worker sends its loop's passes and
// connection counts.
const traceInterval = 100 * time.Millisecond

// traceListener sends, for a process whose threads do not hold its idle
// connections (the event MPM), the connections its listener holds: the
// keep-alive ones between requests (Waiting), and those a thread serves
// (Writing), when they change, at most every traceInterval. They are
// mod_status's "Async connections: keep-alive" of the process; its
// threads' scoreboard never shows them.
func (w *worker) traceListener() {
	var last stream.Event
	for range time.Tick(traceInterval) {
		w.connMu.Lock()
		open, idle := len(w.busyConns), len(w.idleConns)
		w.connMu.Unlock()
		c := stream.Event{Kind: stream.EventConns, Writing: open, Waiting: idle}
		if c.Writing != last.Writing || c.Waiting != last.Waiting {
			w.emit(c)
			last = c
		}
	}
}

// traceLoop sends the reactor loop's passes, its connections by state
// (nginx's stub_status: reading, writing, waiting) and the loop's
// scoreboard state every traceInterval: W while it has requests in it,
// K while it only holds idle keep-alive connections, _ otherwise.
func (w *worker) traceLoop() {
	var last stream.Event
	for range time.Tick(traceInterval) {
		w.flushPasses()
		w.connMu.Lock()
		open, idle := len(w.busyConns), len(w.idleConns)
		w.connMu.Unlock()
		writing := int(w.writing.Load())
		c := stream.Event{Kind: stream.EventConns, Reading: max(0, open-writing), Writing: writing, Waiting: idle}
		if c.Reading != last.Reading || c.Writing != last.Writing || c.Waiting != last.Waiting {
			w.emit(c)
			last = c
		}
		state := laneIdle
		switch {
		case writing > 0:
			state = laneSending
		case open > 0:
			state = laneReading
		case idle > 0:
			state = laneKeepAlive
		}
		w.setState(w.lanes[0], state)
	}
}

// tracePool sends the pool's counters every traceInterval while they
// change.
func (w *worker) tracePool() {
	var last runtime.PoolStats
	for range time.Tick(traceInterval) {
		if s := w.pool.Stats(); s != last {
			w.emit(stream.Event{Kind: stream.EventPool, PoolThreads: s.Threads, PoolBusy: s.Busy, Queued: s.Waiting, PoolDone: s.Done, Overflows: s.Overflows})
			last = s
		}
	}
}

// poolTaskEvent is the trace event of a pool task's moment t, for lane.
func poolTaskEvent(lane int, t runtime.PoolTask) stream.Event {
	e := stream.Event{T: t.T.UnixNano(), Lane: lane, Req: uint64(t.Req), Task: t.Task, Work: t.Work, Where: t.Where}
	switch t.Event {
	case runtime.PoolQueued:
		e.Kind, e.Queued = stream.EventPoolQueue, t.Waiting
	case runtime.PoolStarted:
		e.Kind, e.PoolThread, e.Wait = stream.EventPoolStart, t.Thread+1, int64(t.Dur)
	case runtime.PoolDone:
		e.Kind, e.PoolThread, e.Dur = stream.EventPoolDone, t.Thread+1, int64(t.Dur)
	case runtime.PoolOverflow:
		e.Kind, e.Queued, e.Cause = stream.EventPoolOverflow, t.Waiting, threadpool.OverflowMessage(t.Waiting)
	}
	return e
}

// flushPasses sends the loop passes gathered since the last pass event.
func (w *worker) flushPasses() {
	if passes, dropped := w.passes.take(); len(passes) > 0 || dropped > 0 {
		w.emit(stream.Event{Kind: stream.EventPass, Passes: passes, Value: float64(dropped)})
	}
}

// setState writes a lane's state on the scoreboard and, while tracing,
// tells the live view of the change.
func (w *worker) setState(l *lane, s laneState) {
	if laneState(l.state.Swap(uint32(s))) == s {
		return
	}
	if w.spec.Trace {
		w.emit(stream.Event{Kind: stream.EventState, Lane: l.index, State: s.String()})
	}
}

// lagSampler batches loop-lag samples into one event every 100 ms, with
// the loop's utilisation over that period.
func (w *worker) lagSampler() func(time.Duration) {
	var mu sync.Mutex
	var samples []int64
	last := time.Now()
	var lastIdle time.Duration
	return func(lag time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, int64(lag))
		if time.Since(last) < 100*time.Millisecond {
			return
		}
		idle := w.lanes[0].inst.Loop().IdleTime()
		el := time.Since(last)
		util := 1 - float64(idle-lastIdle)/float64(el)
		w.emit(stream.Event{Kind: stream.EventLag, Samples: samples, Value: max(0, min(1, util))})
		samples, last, lastIdle = nil, time.Now(), idle
	}
}

// maxEventText caps the free-text fields of an event (a guest's log line,
// a request path), so one event stays a small line on the event pipe.
const maxEventText = 4 << 10

func (w *worker) emit(e stream.Event) {
	if len(e.Text) > maxEventText {
		e.Text = e.Text[:maxEventText] + "…"
	}
	if len(e.Path) > maxEventText {
		e.Path = e.Path[:maxEventText] + "…"
	}
	e.V = stream.SchemaVersion
	if e.T == 0 {
		e.T = time.Now().UnixNano()
	}
	e.Model = string(w.spec.Model)
	e.Process = w.spec.Process
	e.PID = w.pid
	w.events.send(e)
}

// eventWriter sends events to the supervisor from one goroutine, batching
// whatever queued up into one write.
//
// The queue is a slice that grows with what waits, not a channel of
// maxQueuedEvents: a stream.Event is about 450 bytes, and a channel that
// size was 1.8 MB of a worker's live heap from its start, which the
// collector's goal counted half again, while a worker that is not traced
// queues a handful of events in its life. (See RATIONALE.md, "A worker's
// memory".)
type eventWriter struct {
	mu     sync.Mutex
	q      []stream.Event // queued, not yet taken by loop
	wake   chan struct{}  // (1) something was queued
	flush  chan chan struct{}
	closed atomic.Bool
	f      *os.File
}

// maxQueuedEvents bounds the events waiting to be written, lifecycle
// events aside.
const maxQueuedEvents = 4096

// keptEventBatch is the capacity past which a batch's slice is dropped
// once written, rather than kept for the next: a burst grows the queue,
// and its memory goes with it.
const keptEventBatch = 256

func newEventWriter(f *os.File) *eventWriter {
	ew := &eventWriter{wake: make(chan struct{}, 1), flush: make(chan chan struct{}), f: f}
	go ew.loop()
	return ew
}

// send queues e. Trace events and guest output are dropped when
// maxQueuedEvents wait (serving never waits for tracing; the supervisor
// sees a gap), but a worker's lifecycle events (ready, exit) are queued
// past that bound: the supervisor logs and acts on them.
func (ew *eventWriter) send(e stream.Event) {
	if ew.closed.Load() {
		return
	}
	ew.mu.Lock()
	if len(ew.q) >= maxQueuedEvents && e.Kind != stream.EventReady && e.Kind != stream.EventExit {
		ew.mu.Unlock()
		return
	}
	ew.q = append(ew.q, e)
	ew.mu.Unlock()
	select {
	case ew.wake <- struct{}{}:
	default:
	}
}

func (ew *eventWriter) loop() {
	bw := bufio.NewWriterSize(ew.f, 64<<10)
	enc := json.NewEncoder(bw)
	var spare []stream.Event
	for {
		var ack chan struct{}
		select {
		case <-ew.wake:
		case ack = <-ew.flush:
		}
		ew.mu.Lock()
		batch := ew.q
		ew.q = spare[:0]
		ew.mu.Unlock()
		for i := range batch {
			enc.Encode(&batch[i])
		}
		clear(batch) // its strings and slices are garbage now
		spare = batch
		if cap(spare) > keptEventBatch {
			spare = nil
		}
		if err := bw.Flush(); errors.Is(err, syscall.EPIPE) {
			os.Exit(exitRetired) // the supervisor is gone: so are we
		}
		if ack != nil {
			close(ack)
		}
	}
}

// close stops taking events and flushes those queued (an exit event among
// them); it waits at most eventFlushTimeout, which only a supervisor that
// stopped reading would need.
func (ew *eventWriter) close() {
	ew.closed.Store(true)
	ack := make(chan struct{})
	timeout := time.After(eventFlushTimeout)
	select {
	case ew.flush <- ack:
		select {
		case <-ack:
		case <-timeout:
		}
	case <-timeout:
	}
}

// eventFlushTimeout bounds the last flush of a worker's events.
const eventFlushTimeout = 10 * time.Second

// retireWhenQuiet retires the worker, once, as soon as none of its
// connections is new or serving a request (idle keep-alive connections are
// closed by the shutdown).
func (w *worker) retireWhenQuiet() {
	w.quietOnce.Do(func() {
		go func() {
			for {
				w.connMu.Lock()
				n := len(w.busyConns)
				w.connMu.Unlock()
				if n == 0 {
					w.retire("served its connection quota (--max-connections-per-child)")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	})
}

// onSignal retires the worker when the supervisor asks it to stop.
func (w *worker) onSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	w.retire("stopped by the supervisor")
}

// isGOGC reports whether an environment entry sets GOGC.
func isGOGC(kv string) bool { return strings.HasPrefix(kv, "GOGC=") }
