package models

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Supervisor is the master process of a model: it owns the listening socket
// and the worker processes, as Apache's parent process and nginx's master
// do. It never runs guest code itself.
//
//	s, err := models.Start(ctx, models.Config{Model: models.Reactor, Wasm: "hello.wasm", Addr: "127.0.0.1:0"})
//	...
//	fmt.Println("listening on", s.URL())
//	defer s.Close()
//
// # Notes
//
//   - Workers accept connections themselves from the shared socket; the
//     supervisor only decides how many workers there are.
//   - It knows what each worker's lanes are doing from the scoreboard
//     they share with it (scoreboard.go), whether or not anything traces.
//   - A worker that dies is replaced at once, after its exit is logged with
//     its cause, as nginx's master does. (Apache's prefork parent leaves
//     the slot to its spare-server maintenance, which is why it forces
//     MinSpareServers to at least 1; here MinSpare 0 cannot empty the
//     pool.) One that keeps dying
//     within seconds of its start is replaced after a growing delay (100 ms
//     up to 5 s), so a handler that crashes at once cannot make the
//     supervisor fork in a tight loop.
//   - A worker that stops sending heartbeats for longer than Timeout plus a
//     grace period is killed: that is a guest spinning hard enough to freeze
//     its process (see deadman for the kill that comes first).
//   - Close stops every worker (SIGTERM, then SIGKILL) and reaps them; the
//     workers also die if the supervisor does (PR_SET_PDEATHSIG, and their
//     event pipe breaks).
type Supervisor struct {
	policy Policy // the model's answers
	cfg    Config
	ln     *os.File
	addr   *net.TCPAddr
	exe    string
	start  time.Time
	files  string // the data files, for the workers (writeFiles)
	packed string // the module as the workers load it (runtime.PackModule)

	mu      sync.Mutex
	slots   []*child              // index = process index; nil = open slot
	backoff map[int]time.Duration // respawn delay per slot (see respawnDelayLocked)
	closing bool
	wg      sync.WaitGroup
	stop    chan struct{}

	evMu sync.Mutex // serialises calls of cfg.OnEvent

	lag lagWindow // recent loop-lag samples of every loop (reactor, with Trace); has its own lock

	exitedCPU time.Duration // CPU time of the workers reaped so far (under mu)

	// interpreter: workers spawned now run the guest on wazero's
	// interpreter (Config.ServeWhileCompiling, until the compile is done).
	// replaced: the interpreter's workers that have left their slot to a
	// compiled one and are finishing their requests. Both under mu.
	interpreter bool
	replaced    []*child
	started     chan struct{} // closed when Start has started the pool
	compiled    chan struct{} // see Compiled

	// ahead: Start's first workers may be Config.Standby's that loaded
	// standbyKey; the pool is held (Standby.hold) until Close.
	ahead      bool
	standbyKey standbyKey
}

// child is one worker process.
type child struct {
	index     int
	cmd       *exec.Cmd
	pid       int
	board     *boardRow // its lanes' states, written by the worker; unmapped when reaped
	spawned   time.Time
	ready     chan struct{} // closed once: ready, or exited first
	events    chan struct{} // closed when the event pipe has been read to its end
	readyOnce sync.Once
	isReady   bool
	exited    bool
	lastBeat  time.Time
	exit      *stream.Event // the exit the worker reported, if any
	badEvents int           // lines of its event pipe that were not events
	killed    string        // why the supervisor killed it, if it did
	retiring  bool
	// interpreter: it runs the guest on wazero's interpreter. gone is
	// closed once it has been reaped.
	interpreter bool
	ahead       bool // a standby worker, adopted (Config.Standby)
	gone        chan struct{}

	pool stream.Event // its thread pool's latest counters (a pool event)

	logTokens  float64 // guest output rate limit (a token bucket)
	logRefill  time.Time
	logDropped int
}

// Start opens the listening socket, starts the model's worker processes and
// returns once they are ready to serve.
func Start(ctx context.Context, cfg Config) (*Supervisor, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = runtime.DefaultCacheDir()
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	exe := cfg.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	wasm, err := filepath.Abs(cfg.Wasm)
	if err != nil {
		return nil, err
	}
	cfg.Wasm = wasm
	files, err := writeFiles(cfg.CacheDir, cfg.Files)
	if err != nil {
		return nil, err
	}
	// A module the playground built and compiled is known by its sum
	// (runtime.FileSum): read only to be compiled or packed.
	wazeroDir := filepath.Join(cfg.CacheDir, "wazero")
	sum, module, err := runtime.SumOrRead(cfg.Wasm) // module: nil if the sum was known
	if err != nil {
		return nil, err
	}
	cached := runtime.CachedSum(wazeroDir, sum)
	interim := cfg.ServeWhileCompiling && !cached
	compiled := !interim && !cached
	if !cached && module == nil {
		if module, _, err = runtime.ReadModule(cfg.Wasm); err != nil {
			return nil, err
		}
	}
	if compiled {
		// A cached module is not loaded here: each worker loads it from
		// the cache anyway, and loading costs a fifth of a second.
		if err := compileGuest(ctx, cfg, module); err != nil {
			return nil, err
		}
	}
	// The workers load the module with its data packed once, here.
	var packed string
	if module != nil { // read already: not again
		packed, err = runtime.PackModule(wazeroDir, module)
	} else {
		packed, err = runtime.PackFile(wazeroDir, cfg.Wasm)
	}
	if err != nil {
		cfg.Logf("%v: each worker packs it", err)
		packed = cfg.Wasm
	}
	ln, addr, err := listen(cfg.Addr, cfg.Backlog)
	if err != nil {
		return nil, err
	}
	policy, _ := PolicyOf(cfg.Model) // Validate checked it
	s := &Supervisor{cfg: cfg, packed: packed, files: files, policy: policy, ln: ln, addr: addr, exe: exe, start: time.Now(), stop: make(chan struct{}), backoff: map[int]time.Duration{},
		interpreter: interim, started: make(chan struct{}), compiled: make(chan struct{}),
		ahead:      cfg.Standby != nil && !interim,
		standbyKey: standbyKey{exe: exe, wasm: packed, cacheDir: filepath.Join(cfg.CacheDir, "wazero"), memoryLimit: cfg.MemoryLimit}}
	if s.ahead {
		cfg.Standby.hold(s.standbyKey)
	}
	n, size := policy.Start(&s.cfg), policy.Slots(&s.cfg)
	s.slots = make([]*child, size)
	// On the interpreter every worker compiles the guest itself (a
	// quarter of a second of a CPU, which no cache saves), so the first
	// starts alone, to answer as soon as one can, and the others (and the
	// compile to machine code) once it is ready.
	first := n
	if interim {
		first = 1
	}
	if err := s.spawnPool(ctx, 0, first); err != nil {
		return nil, err
	}
	if interim {
		cfg.Logf("serving on the interpreter while the compiler finishes (answers are slower until then)")
		s.wg.Add(1)
		go s.switchToCompiled(module)
	}
	if err := s.spawnPool(ctx, first, n); err != nil {
		return nil, err
	}
	if s.ahead {
		cfg.Standby.adopted(s.standbyKey)
	}
	close(s.started)
	if !interim {
		close(s.compiled)
	}
	s.wg.Add(2)
	go s.monitor()
	go s.sampleQueue()
	if compiled && !cfg.KeepCompileMemory {
		releaseCompileMemory() // once the pool is up: packing and spawning made garbage too
	}
	return s, nil
}

// spawnPool starts the workers of slots [from, to), adopting workers
// started ahead if it may (Config.Standby), and waits until they are
// ready; on an error it closes the supervisor.
func (s *Supervisor) spawnPool(ctx context.Context, from, to int) error {
	var started []*child
	s.mu.Lock()
	for i := from; i < to; i++ {
		c, err := s.startLocked(i, s.ahead)
		if err != nil {
			s.mu.Unlock()
			s.Close()
			return err
		}
		started = append(started, c)
	}
	s.mu.Unlock()
	for _, c := range started {
		if err := s.waitReady(ctx, c); err != nil {
			s.Close()
			return err
		}
	}
	return nil
}

// Precompile compiles the module at wasmPath to machine code into the
// compilation cache under cacheDir (Config.CacheDir; "" is
// runtime.DefaultCacheDir), unless it is there already, so that a Start
// of it later spawns its workers at once; it also packs the module as the
// workers load it. The playground calls it after a build, while the person
// is still reading the code. It runs no guest code.
//
// It keeps the memory the compile used (about a hundred MB, garbage once
// it returns), as Start does only with Config.KeepCompileMemory: a caller
// that compiles again soon reuses it rather than having the kernel fault
// it in afresh, which costs a compile here a quarter of its time. The
// caller hands it back (debug.FreeOSMemory) when it stops compiling.
func Precompile(ctx context.Context, cacheDir, wasmPath string) error {
	if cacheDir == "" {
		cacheDir = runtime.DefaultCacheDir()
	}
	// Read here, the module is known by its sum to the Start that follows
	// (runtime.FileSum), which then reads it no more.
	module, _, err := runtime.ReadModule(wasmPath)
	if err != nil {
		return err
	}
	// Start packs the module for its workers (PackModule): done here, a
	// Start of a module just edited saves packing it, a sixth of the
	// time from Run to the first answer.
	if _, err := runtime.PackModule(filepath.Join(cacheDir, "wazero"), module); err != nil {
		return err
	}
	if runtime.Cached(filepath.Join(cacheDir, "wazero"), module) {
		return nil
	}
	if err := compileGuest(ctx, Config{CacheDir: cacheDir, Logf: func(string, ...any) {}}, module); err != nil {
		return err
	}
	return nil
}

// compileGuest compiles the guest once in the supervisor, so that the
// workers load it from wazero's on-disk cache instead of each compiling it.
// It runs no guest code.
func compileGuest(ctx context.Context, cfg Config, module []byte) error {
	start := time.Now()
	e, err := runtime.NewEngine(ctx, runtime.EngineConfig{CacheDir: filepath.Join(cfg.CacheDir, "wazero")})
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	if _, err := e.Compile(ctx, module); err != nil {
		return err
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		cfg.Logf("compiled the guest to machine code in %v (cached from now on)", d.Round(10*time.Millisecond))
	}
	return nil
}

// releaseCompileMemory hands back the hundreds of megabytes of garbage a
// compile leaves, in one collection: otherwise Go's background scavenger
// returns them a few pages at a time, at 1% of a core for a minute or
// more, from a process that is otherwise idle. It collects on a goroutine
// of its own: what follows a compile (a Run's first answer, the
// playground's standby worker) does not wait for it.
func releaseCompileMemory() { go debug.FreeOSMemory() }

// testHookCompile, if set (by tests), is called by switchToCompiled before
// it compiles: a test holds the interpreter's generation there.
var testHookCompile func()

// switchToCompiled compiles the guest while the workers serve it on the
// interpreter, then replaces them, as Apache's graceful restart does: in
// each slot a worker on the machine code starts; once it is ready (it
// accepts from the same socket), the interpreter's worker is told to stop
// (SIGTERM: it stops accepting, finishes the requests it holds and exits).
// A slot is never empty meanwhile; connections go to whichever worker
// accepts them, and every request is served by one engine from start to
// end. Workers spawned from the moment the compile is done (respawns,
// spares) run the machine code.
func (s *Supervisor) switchToCompiled(module []byte) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop: // Close: wazero checks ctx between functions
			cancel()
		case <-ctx.Done():
		}
	}()
	if testHookCompile != nil {
		testHookCompile()
	}
	if err := compileGuest(ctx, s.cfg, module); err != nil {
		if ctx.Err() == nil {
			s.cfg.Logf("compiling the guest to machine code failed (%v): staying on the interpreter", err)
		}
		return
	}
	releaseCompileMemory()
	// Start may still be waiting for the pool's first workers, which must
	// not be replaced under it.
	select {
	case <-s.started:
	case <-s.stop:
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.interpreter = false
	type handover struct{ from, to *child }
	var hs []handover
	for i, c := range s.slots {
		if c == nil || !c.interpreter || c.retiring {
			continue
		}
		c.retiring = true // reap: no replacement, the slot is taken
		s.replaced = append(s.replaced, c)
		to, err := s.spawnLocked(i)
		if err != nil {
			s.cfg.Logf("replacing %s: %v", s.label(i), err)
			c.cmd.Process.Signal(syscall.SIGTERM)
			continue
		}
		hs = append(hs, handover{c, to})
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() {
			// Ready, or dead before it got there (reap replaces it as it
			// would any worker): either way the old one's turn is over.
			select {
			case <-h.to.ready:
			case <-s.stop:
				return
			}
			h.from.cmd.Process.Signal(syscall.SIGTERM)
			s.cfg.Logf("%s (pid %d) on the interpreter hands over to pid %d and stops after its requests", s.label(h.from.index), h.from.pid, h.to.pid)
			select {
			case <-h.from.gone:
			case <-s.stop:
			}
		})
	}
	wg.Wait()
	select {
	case <-s.stop:
	default:
		s.cfg.Logf("switched to compiled code: every worker runs the guest's machine code")
		close(s.compiled)
	}
}

// Compiled is closed once every worker runs the guest's machine code: at
// once when Start compiled first, after the switch under
// Config.ServeWhileCompiling. It is never closed if that compile fails.
func (s *Supervisor) Compiled() <-chan struct{} { return s.compiled }

func (s *Supervisor) lanesPerChild() int { return s.policy.Lanes(&s.cfg) }

// Addr is the address the server listens on.
func (s *Supervisor) Addr() *net.TCPAddr { return s.addr }

// URL is the server's base URL, e.g. "http://127.0.0.1:8080".
func (s *Supervisor) URL() string { return "http://" + s.addr.String() }

// Config returns the configuration in effect, defaults filled in.
func (s *Supervisor) Config() Config { return s.cfg }

// spawnLocked starts a worker process in slot index, cold: a respawn, a
// spare server, or a replacement is started as a real server's is.
func (s *Supervisor) spawnLocked(index int) (*child, error) { return s.startLocked(index, false) }

// startLocked starts the worker of slot index: a standby worker adopted
// (adoptLocked) if ahead and one waits, else a process spawned.
func (s *Supervisor) startLocked(index int, ahead bool) (*child, error) {
	spec := workerSpec{
		Model:       s.cfg.Model,
		Process:     index,
		Lanes:       s.lanesPerChild(),
		Wasm:        s.packed,
		Files:       s.files,
		Env:         s.cfg.Env,
		CacheDir:    filepath.Join(s.cfg.CacheDir, "wazero"),
		MemoryLimit: s.cfg.MemoryLimit,
		Trace:       s.cfg.Trace,
		NoPhases:    s.cfg.NoPhases,
		Interpreter: s.interpreter,
		serving: serving{
			KeepAlive:                s.cfg.KeepAlive,
			KeepAliveTimeout:         s.cfg.KeepAliveTimeout,
			MaxKeepAliveRequests:     s.cfg.MaxKeepAliveRequests,
			MaxConnectionsPerChild:   s.cfg.MaxConnectionsPerChild,
			Connections:              s.cfg.Connections,
			AsyncRequestWorkerFactor: s.cfg.AsyncRequestWorkerFactor,
			Timeout:                  s.cfg.Timeout,
			LimitRequestBody:         s.cfg.LimitRequestBody,
			ThreadPoolThreads:        s.cfg.ThreadPoolThreads,
			ThreadPoolMaxQueue:       s.cfg.ThreadPoolMaxQueue,
		},
	}
	js, _ := json.Marshal(spec)
	board, bf, err := newBoardRow(spec.Lanes)
	if err != nil {
		return nil, err
	}
	defer bf.Close() // the worker has its own copy, and each side its mapping
	pr, pw, err := os.Pipe()
	if err != nil {
		board.close()
		return nil, err
	}
	var cmd *exec.Cmd
	if ahead {
		cmd = s.adoptLocked(js, pw, bf)
	}
	how := " (started ahead)"
	if cmd == nil {
		how = ""
		cmd = workerCommand(s.exe, js, s.ln, pw, bf) // fd 3, fd 4, fd 5
		if err := cmd.Start(); err != nil {
			pr.Close()
			pw.Close()
			board.close()
			return nil, fmt.Errorf("starting worker: %w", err)
		}
	}
	pw.Close()
	now := time.Now()
	c := &child{index: index, cmd: cmd, pid: cmd.Process.Pid, spawned: now, lastBeat: now, logTokens: logBurst, logRefill: now, ahead: how != "",
		ready: make(chan struct{}), events: make(chan struct{}), gone: make(chan struct{}), board: board,
		interpreter: s.interpreter}
	s.slots[index] = c
	s.cfg.Logf("spawned %s (pid %d)%s", s.label(index), c.pid, how)
	s.event(stream.Event{Kind: stream.EventSpawn, Process: index, PID: c.pid})
	s.wg.Add(2)
	go s.readEvents(c, pr)
	go s.reap(c)
	return c, nil
}

// workerCommand is "mpmlab worker" (exe) with spec in its environment and
// files as its fds 3, 4, ...; its output goes to the supervisor's stderr.
func workerCommand(exe string, spec []byte, files ...*os.File) *exec.Cmd {
	cmd := exec.Command(exe, "worker")
	cmd.Env = append(os.Environ(), workerSpecEnv+"="+string(spec))
	cmd.ExtraFiles = files
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = workerProcAttr()
	return cmd
}

// adoptLocked hands a worker's spec and its descriptors (the listening
// socket, the event pipe's end, the scoreboard row) to a standby worker
// that loaded the module, if one waits (Config.Standby), and returns its
// process; nil if none did.
func (s *Supervisor) adoptLocked(spec []byte, events, board *os.File) *exec.Cmd {
	sw := s.cfg.Standby.take(s.standbyKey)
	if sw == nil {
		return nil
	}
	if err := sw.adopt(spec, s.ln, events, board); err != nil {
		s.cfg.Logf("%v: starting a worker instead", err)
		return nil
	}
	return sw.cmd
}

func (s *Supervisor) label(index int) string { return s.policy.ProcessLabel(&s.cfg, index) }

func (s *Supervisor) waitReady(ctx context.Context, c *child) error {
	select {
	case <-c.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !c.isReady {
			cause := "exited during start-up"
			if c.exit != nil && c.exit.Cause != "" {
				cause = c.exit.Cause
			}
			return fmt.Errorf("worker %d could not start: %s", c.index, cause)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("worker %d did not become ready within 30s", c.index)
	}
}

// readEvents reads a worker's event pipe until it closes.
func (s *Supervisor) readEvents(c *child, pr *os.File) {
	defer s.wg.Done()
	defer close(c.events)
	defer pr.Close()
	r := bufio.NewReaderSize(pr, maxEventLine)
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Not an event a worker writes: skip it, but keep the pipe
			// open (closing it would kill the worker with EPIPE).
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			s.badEvent(c, fmt.Sprintf("a line over %d bytes", maxEventLine))
			continue
		}
		if len(line) > 0 {
			s.handleEvent(c, line)
		}
		if err != nil {
			return
		}
	}
}

// badEvent reports a line on a worker's event pipe that is not an event
// (a bug in the worker, never the guest's doing: its output travels inside
// events): the first few are logged, then only counted.
func (s *Supervisor) badEvent(c *child, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.badEvents++
	switch {
	case c.badEvents <= maxBadEventLogs:
		s.cfg.Logf("%s (pid %d): dropped a line of its event pipe that is not an event: %s", s.label(c.index), c.pid, what)
	case c.badEvents == maxBadEventLogs+1:
		s.cfg.Logf("%s (pid %d): dropping more lines of its event pipe that are not events, without logging them", s.label(c.index), c.pid)
	}
}

// maxBadEventLogs is how many undecodable event lines of one worker are
// logged.
const maxBadEventLogs = 3

// eventDrainTimeout bounds how long reap waits for the rest of a dead
// worker's events.
const eventDrainTimeout = 5 * time.Second

// maxEventLine bounds one event line on the pipe (workers cap free text
// at maxEventText).
const maxEventLine = 64 << 10

// Guest output printed by the supervisor, per worker: a burst of logBurst
// lines, then logRate lines a second; the rest is counted and reported.
// Every line still reaches OnEvent.
const (
	logBurst = 100
	logRate  = 20
)

func (s *Supervisor) handleEvent(c *child, line []byte) {
	var e stream.Event
	if err := json.Unmarshal(line, &e); err != nil {
		s.badEvent(c, fmt.Sprintf("%v: %.80q", err, line))
		return
	}
	s.mu.Lock()
	now := time.Now()
	c.lastBeat = now
	switch e.Kind {
	case stream.EventReady:
		if !c.isReady && !c.exited {
			c.isReady = true
			c.readyOnce.Do(func() { close(c.ready) })
			on := ""
			if c.interpreter {
				on = " on the interpreter"
			}
			if c.ahead {
				on = " from its adoption"
			}
			s.cfg.Logf("%s (pid %d) ready in %v%s", s.label(c.index), c.pid, time.Duration(e.Dur).Round(time.Millisecond), on)
		}
	case stream.EventExit:
		ec := e
		c.exit = &ec
	case stream.EventLag:
		s.lag.add(now, e)
	case stream.EventPool:
		c.pool = e
	case stream.EventLog:
		c.logTokens = min(logBurst, c.logTokens+now.Sub(c.logRefill).Seconds()*logRate)
		c.logRefill = now
		name := s.policy.LaneLabel(c.index, e.Lane)
		if c.logTokens < 1 {
			c.logDropped++
			break
		}
		c.logTokens--
		if c.logDropped > 0 {
			s.cfg.Logf("[%s pid %d] (%d lines of output not shown)", name, c.pid, c.logDropped)
			c.logDropped = 0
		}
		s.cfg.Logf("[%s pid %d] %s", name, c.pid, e.Text)
	}
	s.mu.Unlock()
	if e.Kind != stream.EventBeat {
		s.event(e)
	}
}

// reap waits for a worker to end, logs why, and replaces it unless the
// supervisor is closing or the pool policy retired it.
//
// The cause is the worker's exit event, which readEvents may still be
// reading when Wait returns: reap waits for the pipe's end (the worker's
// exit closed it) before it looks.
func (s *Supervisor) reap(c *child) {
	defer s.wg.Done()
	defer close(c.gone)
	err := c.cmd.Wait()
	select {
	case <-c.events:
	case <-time.After(eventDrainTimeout):
		// Only a process that inherited the pipe could hold it open.
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cause, code := "", c.cmd.ProcessState.ExitCode()
	now := time.Now()
	due, guarded := c.board.guardDue(now)
	var held time.Duration // how long the request its guard cut off had run
	switch {
	case c.killed != "":
		cause = "killed: " + c.killed
	case c.exit != nil && c.exit.Cause != "":
		cause = c.exit.Cause
	case signaled(c, syscall.SIGKILL) && guarded:
		// The guard is armed for its lane's oldest request in flight:
		// that request started a timeout and a grace before it was due.
		held = now.Sub(due.Add(-s.cfg.Timeout - deadmanGrace))
		cause = fmt.Sprintf("killed by its runaway guard: a request exceeded its timeout (%v) and froze the process", s.cfg.Timeout)
	case signaled(c, syscall.SIGKILL):
		cause = "killed by SIGKILL from outside mpmlab (the kernel's OOM killer, or kill -9): no request had run past its timeout"
	case signaled(c, syscall.SIGTERM) && (s.closing || c.retiring):
		// Asked to stop before it had set up its handler for the request.
		cause = "stopped by the supervisor"
	case err != nil:
		cause = err.Error()
	default:
		cause = "exited"
	}
	c.exited = true
	s.exitedCPU += c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
	c.readyOnce.Do(func() { close(c.ready) }) // wakes waitReady; isReady says how it went
	if s.slots[c.index] == c {
		s.slots[c.index] = nil
	}
	s.replaced = slices.DeleteFunc(s.replaced, func(r *child) bool { return r == c })
	c.board.close() // no one reads it now: it is in no slot
	s.event(stream.Event{Kind: stream.EventExit, Process: c.index, PID: c.pid, Status: code, Cause: cause, Dur: int64(held)})
	if s.closing {
		return
	}
	if c.retiring {
		s.cfg.Logf("%s (pid %d) retired: %s", s.label(c.index), c.pid, cause)
		return
	}
	what := "exited: " + cause
	if !c.isReady {
		what = "failed to start: " + cause
	}
	delay := s.respawnDelayLocked(c)
	if delay == 0 {
		s.cfg.Logf("%s (pid %d) %s; starting a replacement", s.label(c.index), c.pid, what)
		if _, err := s.spawnLocked(c.index); err != nil {
			s.cfg.Logf("respawning %s: %v", s.label(c.index), err)
		}
		return
	}
	s.cfg.Logf("%s (pid %d) %s; starting a replacement in %v (it keeps dying young)", s.label(c.index), c.pid, what, delay)
	index := c.index
	time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing || s.slots[index] != nil {
			return // closing, or the spare-server manager filled the slot
		}
		if _, err := s.spawnLocked(index); err != nil {
			s.cfg.Logf("respawning %s: %v", s.label(index), err)
		}
	})
}

// signaled reports whether c's process was ended by sig.
func signaled(c *child, sig syscall.Signal) bool {
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// Respawn backoff: a worker that dies within youngDeath of its spawn (or
// never got ready) is replaced after 100 ms, then 200 ms, ... up to
// maxBackoff, so a handler that crashes at once cannot make the supervisor
// fork in a tight loop. A worker that lived longer is replaced at once.
const (
	youngDeath = 2 * time.Second
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func (s *Supervisor) respawnDelayLocked(c *child) time.Duration {
	if c.isReady && time.Since(c.spawned) >= youngDeath {
		delete(s.backoff, c.index)
		return 0
	}
	b := s.backoff[c.index]
	if b == 0 {
		// The first young death of a slot is replaced at once: the crash
		// demonstrations should not wait.
		s.backoff[c.index] = minBackoff / 2
		return 0
	}
	b = min(2*b, maxBackoff)
	s.backoff[c.index] = b
	return b
}

// monitor kills silent workers every half second and, under the process
// model, manages the pool of spare servers once a second.
func (s *Supervisor) monitor() {
	defer s.wg.Done()
	beat := time.NewTicker(500 * time.Millisecond)
	defer beat.Stop()
	spares := time.NewTicker(time.Second)
	defer spares.Stop()
	tests := testSpares
	if tests != nil {
		spares.Stop() // the test says when
	}
	silence := s.cfg.Timeout + 2*heartbeatInterval
	rate := 1
	for {
		select {
		case <-s.stop:
			return
		case <-beat.C:
			s.mu.Lock()
			for _, c := range s.slots {
				if c != nil && c.isReady && c.killed == "" && time.Since(c.lastBeat) > silence {
					s.killLocked(c, fmt.Sprintf("no heartbeat for %v (a guest froze its process)", silence.Round(time.Second)))
				}
			}
			s.mu.Unlock()
		case <-spares.C:
			s.mu.Lock()
			_, rate = s.maintainSparesLocked(rate)
			s.mu.Unlock()
		case reply := <-tests:
			s.mu.Lock()
			var n int
			n, rate = s.maintainSparesLocked(rate)
			s.mu.Unlock()
			reply <- n
		}
	}
}

// testSpares, if set (by tests) before Start, replaces the once-a-second
// clock of spare-server maintenance: each channel received runs one
// maintenance and gets its decision back (processes started, or -1 for
// one retired).
var testSpares chan chan int

// maintainSparesLocked runs the model's idle-server maintenance
// (Policy.Spares: prefork's perform_idle_server_maintenance) on the
// processes alive now, as the scoreboard shows them, spawning or retiring
// as it says. It returns the processes started (-1: one retired) and the
// next spawn rate: doubled after a spawn, up to maxSpawnRate, and back to
// 1 after a maintenance that spawned nothing, as Apache's idle_spawn_rate.
//
// A process counts as idle while it starts (it was spawned a maintenance
// ago and forking more would only swamp the machine further, says Apache)
// and while its lane waits for a connection.
func (s *Supervisor) maintainSparesLocked(rate int) (n, next int) {
	idle, total := 0, 0
	var idleChild *child
	for _, c := range s.slots {
		if c == nil || c.retiring {
			continue
		}
		total++
		if !c.isReady || c.board.state(0) == laneIdle {
			idle++
			if c.isReady {
				idleChild = c
			}
		}
	}
	switch n := s.policy.Spares(&s.cfg, total, idle, rate); {
	case n > 0:
		started := 0
		for i := 0; i < len(s.slots) && started < n; i++ {
			if s.slots[i] == nil {
				if _, err := s.spawnLocked(i); err != nil {
					s.cfg.Logf("spawning spare server: %v", err)
					break
				}
				started++
			}
		}
		return started, min(rate*2, maxSpawnRate)
	case n < 0 && idleChild != nil:
		idleChild.retiring = true
		s.cfg.Logf("retiring idle %s (pid %d): %d idle > max-spare %d", s.label(idleChild.index), idleChild.pid, idle, s.cfg.MaxSpare)
		idleChild.cmd.Process.Signal(syscall.SIGTERM)
		return -1, 1
	}
	return 0, 1
}

// maxSpawnRate caps the spare processes spawned in one second (Apache's
// MAX_SPAWN_RATE).
const maxSpawnRate = 32

func (s *Supervisor) killLocked(c *child, why string) {
	c.killed = why
	s.cfg.Logf("killing %s (pid %d): %s", s.label(c.index), c.pid, why)
	s.event(stream.Event{Kind: stream.EventKill, Process: c.index, PID: c.pid, Cause: why})
	c.cmd.Process.Kill()
}

// sampleQueue reports the accept queue's depth every 100 ms while tracing.
func (s *Supervisor) sampleQueue() {
	defer s.wg.Done()
	if !s.cfg.Trace {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	prev := -1
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		n, err := acceptQueueDepth(s.ln)
		if err != nil {
			return
		}
		if n != prev {
			s.event(stream.Event{Kind: stream.EventQueue, Value: float64(n)})
			prev = n
		}
	}
}

func (s *Supervisor) event(e stream.Event) {
	if s.cfg.OnEvent == nil {
		return
	}
	e.V = stream.SchemaVersion
	if e.T == 0 {
		e.T = time.Now().UnixNano()
	}
	e.Model = string(s.cfg.Model)
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.cfg.OnEvent(e)
}

// WorkerStatus is one slot of the scoreboard.
type WorkerStatus struct {
	Process int      `json:"process"`
	PID     int      `json:"pid"` // 0: open slot
	Ready   bool     `json:"ready"`
	Lanes   []string `json:"lanes"` // lane states (State* constants)
}

// Workers returns the scoreboard: one entry per slot, open slots included.
func (s *Supervisor) Workers() []WorkerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WorkerStatus, len(s.slots))
	for i, c := range s.slots {
		out[i] = WorkerStatus{Process: i}
		if c == nil {
			out[i].Lanes = make([]string, s.lanesPerChild())
			for j := range out[i].Lanes {
				out[i].Lanes[j] = stream.StateDead
			}
			continue
		}
		out[i].PID, out[i].Ready = c.pid, c.isReady
		out[i].Lanes = make([]string, len(c.board.lanes))
		for j := range out[i].Lanes {
			out[i].Lanes[j] = c.board.state(j).String()
		}
	}
	return out
}

// PIDs returns the pids of the running workers, sorted.
func (s *Supervisor) PIDs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pids []int
	for _, c := range s.slots {
		if c != nil {
			pids = append(pids, c.pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// Close stops the workers (SIGTERM, then SIGKILL after 3 s), reaps them and
// closes the listening socket.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("supervisor already closed")
	}
	s.closing = true
	close(s.stop)
	var live []*child
	for _, c := range slices.Concat(s.replaced, s.slots) {
		if c != nil {
			live = append(live, c)
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		for _, c := range live {
			c.cmd.Process.Kill()
		}
		<-done
	}
	if s.ahead {
		s.cfg.Standby.release(s.standbyKey)
	}
	return s.ln.Close()
}

// RSS returns the resident memory of each running worker process, in KiB,
// keyed by pid.
func (s *Supervisor) RSS() map[int]int {
	out := map[int]int{}
	for _, pid := range s.PIDs() {
		if kb := ProcessRSS(pid); kb > 0 {
			out[pid] = kb
		}
	}
	return out
}

// CPU returns the CPU time (user and system) every worker process of this
// supervisor has used so far, from the kernel's own accounting: the live
// ones' /proc/PID/stat and the reaped ones' rusage. The supervisor's own
// time is not in it: it does no per-request work (workers accept and
// serve connections themselves). Zero where /proc cannot be read.
func (s *Supervisor) CPU() time.Duration {
	s.mu.Lock()
	total := s.exitedCPU
	var live []int
	for _, c := range s.slots {
		if c != nil && !c.exited {
			live = append(live, c.pid)
		}
	}
	s.mu.Unlock()
	for _, pid := range live {
		total += ProcessCPU(pid)
	}
	return total
}
