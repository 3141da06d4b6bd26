package runtime

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/threadpool"
)

// Defaults of PoolConfig's zero fields: the thread_pool knobs'.
const (
	DefaultPoolThreads  = experiment.DefaultThreadPoolThreads
	DefaultPoolMaxQueue = experiment.DefaultThreadPoolMaxQueue
)

// PoolConfig sizes a Pool.
type PoolConfig struct {
	// Threads is the number of OS threads (nginx thread_pool threads=,
	// libuv UV_THREADPOOL_SIZE). Default DefaultPoolThreads.
	Threads int
	// MaxQueue is the most tasks that may wait for a thread (nginx
	// max_queue=); past it a task is refused at once. Default
	// DefaultPoolMaxQueue.
	MaxQueue int
}

// Pool is a worker process's thread pool: the OS threads on which
// guest.Pool.Compute and guest.Pool.Block run while the calling request's
// goroutine is parked, so its instance's loop serves other requests
// meanwhile. It is nginx's thread_pool (with aio threads) and libuv's
// thread pool; the queue is nginx's (package threadpool).
//
//	pool := runtime.NewPool(runtime.PoolConfig{Threads: 4})
//	inst, err := mod.Start(ctx, runtime.InstanceConfig{Pool: pool})
//
// A task's completion reaches its instance as an abi.Wake record on the
// instance's wake fd, which the guest SDK reads through its netpoller: the
// instance's poll_oneoff wakes, the SDK's reader goroutine hands the
// completion to the waiting request, and that one goes on.
//
// # Notes
//
//   - Only the SDK's Compute and Block work moves to the pool: an
//     instance is one thread of wasm, so a handler's own code cannot run
//     anywhere else (as JavaScript cannot leave node's loop without
//     worker_threads).
//   - Each thread is a goroutine locked to an OS thread of its own; they
//     start with the pool's first task. A thread that computes holds a P,
//     so when they start the pool raises GOMAXPROCS by its threads: the
//     kernel, not Go's scheduler, then shares the cores between the loops
//     and the pool's threads, as it does for nginx's and libuv's. (Not
//     from the start: a worker whose handler never uses the pool keeps no
//     idle Ps, for which Go's scheduler would wake threads to look for
//     work.)
//   - One Pool serves every instance of a worker process; it is safe for
//     concurrent use and lives as long as the process.
type Pool struct {
	tp    *threadpool.Pool
	next  atomic.Uint64 // the last task id given
	procs sync.Once     // GOMAXPROCS raised for the threads
}

// NewPool returns a pool; its threads start with its first task.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Threads <= 0 {
		cfg.Threads = DefaultPoolThreads
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultPoolMaxQueue
	}
	return &Pool{tp: threadpool.New(threadpool.Config{Threads: cfg.Threads, MaxQueue: cfg.MaxQueue, LockOSThread: true})}
}

// PoolStats are a pool's counters: threads, busy threads, tasks waiting,
// tasks done and tasks refused (queue overflows).
type PoolStats = threadpool.Stats

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats { return p.tp.Stats() }

// PoolEvent names a moment of a pool task's life.
type PoolEvent string

// Pool task events, in the order a task has them.
const (
	PoolQueued   PoolEvent = "queued"   // posted: taken by an idle thread at once, or waiting
	PoolStarted  PoolEvent = "started"  // a pool thread took it
	PoolDone     PoolEvent = "done"     // it finished; its request goes on
	PoolOverflow PoolEvent = "overflow" // refused: MaxQueue tasks were waiting
)

// PoolTask is one event of a pool task, for InstanceConfig.OnPoolTask.
type PoolTask struct {
	Event PoolEvent
	T     time.Time
	// Task is the task's id, unique within its Pool (0 for an overflow,
	// which never became a task).
	Task uint64
	// Req is the request that posted it (abi.Request.ID; 0 if the SDK
	// could not tell), Where the call's position in the handler's source
	// ("main.go:31").
	Req   uint32
	Where string
	// Work is "compute" or "block"; D how long it was asked to take.
	Work string
	D    time.Duration
	// Thread is the pool thread that runs it, from 0 (started, done).
	Thread int
	// Waiting is the tasks waiting for a thread: just after it was queued,
	// itself included (0: a thread took it at once), or, for an overflow,
	// those that filled the queue.
	Waiting int
	// Dur is, when started, how long it waited for a thread; when done,
	// how long it ran on one.
	Dur time.Duration
}

// maxPoolWork caps one pool task, as maxBlock caps guest.Block.
const maxPoolWork = maxBlock

// submit posts one task of inst's (the pool_submit host call). It returns
// 0 once the task is queued, or the number of tasks waiting when the queue
// is full (at least 1). When the task has run, inst is woken with token.
func (p *Pool) submit(inst *Instance, token uint32, work uint32, d time.Duration, req uint32, where string) uint32 {
	var name string
	var run func(time.Duration)
	switch work {
	case abi.WorkCompute:
		name, run = "compute", burn
	case abi.WorkBlock:
		name, run = "block", time.Sleep // holds the locked OS thread
	default:
		panic("mpmlab: pool_submit: unknown work kind") // traps the guest
	}
	d = max(0, min(d, maxPoolWork))
	p.procs.Do(func() {
		goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(0) + p.tp.Config().Threads)
	})
	on := inst.cfg.OnPoolTask
	task := PoolTask{Req: req, Where: where, Work: name, D: d}
	posted := time.Now()
	id := p.next.Add(1)
	waiting, ok := p.tp.Post(func(thread int) {
		start := time.Now()
		if on != nil {
			t := task
			t.Event, t.T, t.Task, t.Thread, t.Dur = PoolStarted, start, id, thread, start.Sub(posted)
			on(t)
		}
		run(d)
		if on != nil {
			end := time.Now()
			t := task
			t.Event, t.T, t.Task, t.Thread, t.Dur = PoolDone, end, id, thread, end.Sub(start)
			on(t)
		}
		inst.conn.Wake(abi.Wake{Token: token})
	})
	if on != nil {
		t := task
		t.T, t.Waiting = posted, waiting
		if ok {
			t.Event, t.Task = PoolQueued, id
		} else {
			t.Event = PoolOverflow
		}
		on(t)
	}
	if !ok {
		return uint32(max(waiting, 1))
	}
	return 0
}

// burnSink keeps burn's work from being optimised away.
var burnSink atomic.Uint64

// burn computes on the calling thread, a pool thread (locked to its OS
// thread), until it has had about d of CPU time (threadCPU): a fixed amount
// of work, as a real task's, which takes longer than d of wall time when
// busy threads outnumber the cores. (guest.Compute, on the loop, counts
// wall time.)
func burn(d time.Duration) {
	start := threadCPU()
	x := uint64(1)
	for threadCPU()-start < d {
		for i := 0; i < 20000; i++ { // some real work between clock reads
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	burnSink.Store(x)
}
