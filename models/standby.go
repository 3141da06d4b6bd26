package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"golang.org/x/sys/unix"
)

// Standby keeps worker processes started ahead of a run: each has loaded
// one module, the slow fifth of a second of a worker's start, and waits to
// be told which model to serve. The playground prepares them once a
// person's edit is built and compiled, so that the Run that follows
// answers at once (Config.Standby).
//
//	sb := models.NewStandby()
//	defer sb.Close()
//	sb.Prepare(ctx, cfg)                       // cfg as the Run will start it
//	cfg.Standby = sb
//	s, err := models.Start(ctx, cfg)           // adopts them for its first workers
//
// # Notes
//
//   - A standby worker is "mpmlab worker" with a spec that names only the
//     module (workerSpec.Standby) and a socket on fd 3. Once it has loaded
//     the module it writes a byte on the socket; it then waits for its
//     adoption: the supervisor sends the full spec with the three
//     descriptors a worker is started with (the listening socket, the
//     event pipe, the scoreboard row) as SCM_RIGHTS. From there on it is
//     a worker like any other, and its start up to ready (the guests'
//     instances and start-up) happens under the model, as it would.
//   - Only Start's first workers are adopted (Apache's StartServers, one
//     loop): a worker the model spawns later (a respawn, a spare) starts
//     cold, as a real server's would, so the prefork ramp stays true.
//   - Nothing waits beside a run of the module: Start stops the workers
//     it did not take, and the pool starts none while a supervisor of the
//     module runs (hold). Waiting workers would map its workers' machine
//     code, so lower their PSS, and loading ones would take its CPU.
//   - One module at a time: a Prepare of another module, or of another
//     memory limit, stops the waiting workers of the last. They are also
//     stopped standbyIdle after the last Prepare, and by Close.
type Standby struct {
	prepMu  sync.Mutex // one Prepare at a time
	mu      sync.Mutex
	key     standbyKey
	waiting []*standbyWorker   // not yet adopted, in spawn order
	inUse   map[standbyKey]int // supervisors of a key running (hold)
	gen     int                // counts Prepares, so that only the last one's expiry drops
	expiry  *time.Timer        // drops the waiting workers standbyIdle after the last Prepare
	closed  bool
	wg      sync.WaitGroup // the watchers
}

// Limits of the standby pool.
const (
	// maxStandby caps the workers waiting: each holds its loaded module
	// (about 11 MB of its own) and cost a fifth of a second of a CPU.
	maxStandby = 8
	// standbyIdle is how long waiting workers are kept unused.
	standbyIdle = 10 * time.Minute
)

// standbyKey is what a standby worker has loaded, which a supervisor's
// workers must share to adopt it.
type standbyKey struct {
	exe         string // the binary run as "mpmlab worker"
	wasm        string // the module as packed for the workers (runtime.PackModule)
	cacheDir    string // wazero's compilation cache
	memoryLimit int
}

// standbyWorker is one waiting worker process.
type standbyWorker struct {
	cmd    *exec.Cmd
	conn   *net.UnixConn // the supervisor's end of its socket
	loaded chan struct{} // closed once it has loaded the module, or died
	ok     bool          // it loaded the module (set before loaded closes)
	taken  bool          // handed to a supervisor (under Standby.mu)
}

// NewStandby returns an empty standby pool.
func NewStandby() *Standby { return &Standby{inUse: map[standbyKey]int{}} }

// Prepare starts, unless they wait already, the workers that Start would
// spawn first for cfg (its policy's Start count, at most maxStandby), and
// returns once they have loaded the module (or ctx ends). The module must
// be in the compilation cache (Precompile): a standby worker does not
// compile. Waiting workers of another module are stopped, and those past
// the count. While a supervisor of the module runs (it adopted from the
// pool, or could have), nothing is started: workers loading beside a
// measurement would take its CPU, and waiting ones would share its
// workers' machine code, lowering their PSS.
func (sb *Standby) Prepare(ctx context.Context, cfg Config) error {
	return sb.prepare(ctx, cfg, false)
}

// Refill is Prepare if cfg's module is the one the pool's workers loaded
// (its last Prepare's): once a Run has taken them, the next Run of the
// same module starts at once too. For another module it does nothing.
func (sb *Standby) Refill(ctx context.Context, cfg Config) error {
	return sb.prepare(ctx, cfg, true)
}

func (sb *Standby) prepare(ctx context.Context, cfg Config, refill bool) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	key, err := standbyKeyOf(cfg)
	if err != nil {
		return err
	}
	policy, _ := PolicyOf(cfg.Model) // Validate checked it
	n := min(policy.Start(&cfg), maxStandby)

	sb.prepMu.Lock()
	defer sb.prepMu.Unlock()
	sb.mu.Lock()
	switch {
	case sb.closed:
		sb.mu.Unlock()
		return errors.New("standby pool closed")
	case refill && key != sb.key, sb.inUse[key] > 0:
		sb.mu.Unlock()
		return nil
	}
	if key != sb.key {
		sb.dropLocked(0)
		sb.key = key
	}
	sb.dropLocked(n)
	sb.gen++
	gen := sb.gen
	if sb.expiry != nil {
		sb.expiry.Stop()
	}
	sb.expiry = time.AfterFunc(standbyIdle, func() { sb.expire(gen) })
	var spawnErr error
	for len(sb.waiting) < n {
		w, err := sb.spawnLocked(key)
		if err != nil {
			spawnErr = err
			break
		}
		sb.waiting = append(sb.waiting, w)
	}
	waiting := slices.Clone(sb.waiting)
	sb.mu.Unlock()
	for _, w := range waiting {
		select {
		case <-w.loaded:
			if !w.ok && spawnErr == nil {
				spawnErr = fmt.Errorf("a worker started ahead (pid %d) did not load the module", w.cmd.Process.Pid)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return spawnErr
}

// standbyKeyOf is the key of the workers a supervisor of cfg (defaults
// applied) spawns on machine code: its binary, the packed module (which
// Start packs, or Precompile did) and the memory limit.
func standbyKeyOf(cfg Config) (standbyKey, error) {
	exe := cfg.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return standbyKey{}, err
		}
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = runtime.DefaultCacheDir()
	}
	wazeroDir := filepath.Join(cacheDir, "wazero")
	cached, err := runtime.CachedFile(wazeroDir, cfg.Wasm)
	if err != nil {
		return standbyKey{}, err
	}
	if !cached {
		return standbyKey{}, fmt.Errorf("%s is not compiled to machine code yet", cfg.Wasm)
	}
	packed, err := runtime.PackFile(wazeroDir, cfg.Wasm)
	if err != nil {
		return standbyKey{}, err
	}
	return standbyKey{exe: exe, wasm: packed, cacheDir: wazeroDir, memoryLimit: cfg.MemoryLimit}, nil
}

// spawnLocked starts a standby worker of key and its watcher.
func (sb *Standby) spawnLocked(key standbyKey) (*standbyWorker, error) {
	js, _ := json.Marshal(workerSpec{Standby: true, Wasm: key.wasm, CacheDir: key.cacheDir, MemoryLimit: key.memoryLimit})
	fds, err := standbySocketpair()
	if err != nil {
		return nil, fmt.Errorf("standby socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "mpmlab-standby"), os.NewFile(uintptr(fds[1]), "mpmlab-standby")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close() // FileConn has its own copy
	if err != nil {
		return nil, fmt.Errorf("standby socket: %w", err)
	}
	cmd := workerCommand(key.exe, js, theirs) // fd 3
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("starting worker: %w", err)
	}
	w := &standbyWorker{cmd: cmd, conn: fc.(*net.UnixConn), loaded: make(chan struct{})}
	sb.wg.Add(1)
	go sb.watch(w)
	return w, nil
}

// watch reads w's socket: the byte that says it has loaded the module,
// then nothing until it closes (adopted: the worker closes its end) or
// dies. A worker that dies waiting leaves the pool and is reaped here;
// one that was taken is its taker's to reap.
func (sb *Standby) watch(w *standbyWorker) {
	defer sb.wg.Done()
	defer w.conn.Close()
	var b [1]byte
	loaded := false
	for {
		n, err := w.conn.Read(b[:])
		if err != nil || n == 0 {
			break
		}
		if !loaded {
			loaded, w.ok = true, true
			close(w.loaded)
		}
	}
	if !loaded {
		close(w.loaded)
	}
	sb.mu.Lock()
	sb.waiting = slices.DeleteFunc(sb.waiting, func(x *standbyWorker) bool { return x == w })
	mine := !w.taken
	sb.mu.Unlock()
	if mine {
		w.cmd.Wait()
	}
}

// take hands a waiting worker of key to its new supervisor, which must
// adopt it (adopt) or reap it; nil if none waits.
func (sb *Standby) take(key standbyKey) *standbyWorker {
	if sb == nil {
		return nil
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closed || key != sb.key || len(sb.waiting) == 0 {
		return nil
	}
	w := sb.waiting[0]
	sb.waiting = sb.waiting[1:]
	w.taken = true
	return w
}

// adopt sends w its spec and its descriptors: from then on it is the
// caller's worker. If that fails the worker is killed and reaped.
func (w *standbyWorker) adopt(spec []byte, files ...*os.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	_, _, err := w.conn.WriteMsgUnix(spec, unix.UnixRights(fds...), nil)
	if err != nil {
		w.cmd.Process.Kill()
		go w.cmd.Wait()
		return fmt.Errorf("handing the model to a standby worker (pid %d): %w", w.cmd.Process.Pid, err)
	}
	return nil
}

// hold marks a supervisor of key running, from before it adopts until
// it closes (release): the pool starts nothing for key meanwhile.
func (sb *Standby) hold(key standbyKey) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.inUse[key]++
}

// adopted stops the workers of key that wait still, once a supervisor has
// adopted its first workers: they would share its machine code, and so
// lower its workers' PSS.
func (sb *Standby) adopted(key standbyKey) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if key == sb.key {
		sb.dropLocked(0)
	}
}

// release ends a hold.
func (sb *Standby) release(key standbyKey) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.inUse[key]--; sb.inUse[key] <= 0 {
		delete(sb.inUse, key)
	}
}

// expire stops the waiting workers if Prepare gen was the last.
func (sb *Standby) expire(gen int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.gen == gen {
		sb.dropLocked(0)
	}
}

// dropLocked stops the waiting workers past the first keep (the newest
// first); their watchers, which see their sockets close, reap them.
func (sb *Standby) dropLocked(keep int) {
	if len(sb.waiting) <= keep {
		return
	}
	for _, w := range sb.waiting[keep:] {
		w.cmd.Process.Kill()
	}
	sb.waiting = slices.Clip(sb.waiting[:keep])
}

// Close stops the waiting workers and waits until they are reaped.
func (sb *Standby) Close() {
	sb.mu.Lock()
	sb.closed = true
	if sb.expiry != nil {
		sb.expiry.Stop()
	}
	sb.dropLocked(0)
	sb.mu.Unlock()
	sb.wg.Wait()
}

// Waiting is how many workers wait, loaded or loading.
func (sb *Standby) Waiting() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return len(sb.waiting)
}
