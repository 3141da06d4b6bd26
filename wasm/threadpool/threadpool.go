// Package threadpool is a pool of threads with a bounded FIFO queue, as
// nginx's thread_pool directive defines one: a fixed number of threads take
// tasks in the order they were posted; a task posted while every thread is
// busy waits in the queue; a task posted while max_queue tasks already wait
// is refused at once ("thread pool "default" queue overflow: N tasks
// waiting", ngx_thread_task_post).
//
//	p := threadpool.New(threadpool.Config{Threads: 4, MaxQueue: 65536})
//	waiting, ok := p.Post(func(thread int) { work() })
//	if !ok {
//		return fmt.Errorf("queue overflow: %d tasks waiting", waiting)
//	}
//
// The mpmlab host runs guest.Pool's work on one per worker process
// (runtime.Pool), and the guest SDK's native build runs it in-process; both
// share this package so that the queue means one thing.
//
// # Notes
//
//   - A task waits only while every thread is busy: one posted while a
//     thread is idle goes to that thread under the pool's lock, so Waiting
//     counts exactly the tasks no thread has taken. (nginx counts the same
//     way: its threads take their place in the count as they go idle.)
//   - Threads start with the first Post, all of them, and live as long as
//     the process: a handler that never uses the pool costs none.
//   - With Config.LockOSThread each thread is a goroutine locked to an OS
//     thread of its own, so a task that blocks holds a real thread, as in
//     nginx and libuv.
//   - A Pool is safe for concurrent use.
package threadpool

import (
	"fmt"
	"runtime"
	"sync"
)

// Config sizes a Pool.
type Config struct {
	// Threads is the number of threads (at least 1).
	Threads int
	// MaxQueue is the most tasks that may wait for a thread (at least 1):
	// nginx's max_queue.
	MaxQueue int
	// LockOSThread runs each thread on an OS thread of its own.
	LockOSThread bool
}

// Pool runs tasks on a fixed set of threads; see the package doc.
type Pool struct {
	cfg Config

	mu      sync.Mutex
	started bool
	idle    []*thread   // threads waiting for a task, lowest index first
	queue   []func(int) // tasks waiting for a thread, oldest first
	head    int         // queue[head:] are waiting
	busy    int         // threads running a task
	stats   Stats       // Done and Overflows
}

type thread struct {
	index int
	next  chan func(int) // the task handed to this thread while it was idle
}

// OverflowMessage is what nginx logs when a task is refused:
// thread pool "default" queue overflow: 2 tasks waiting.
func OverflowMessage(waiting int) string {
	return fmt.Sprintf("thread pool \"default\" queue overflow: %d tasks waiting", waiting)
}

// Stats are a Pool's counters.
type Stats struct {
	Threads   int    // threads of the pool
	Busy      int    // threads running a task now
	Waiting   int    // tasks waiting for a thread now
	Done      uint64 // tasks finished
	Overflows uint64 // tasks refused: the queue was full
}

// New returns a Pool; its threads start with the first Post.
func New(cfg Config) *Pool {
	cfg.Threads = max(cfg.Threads, 1)
	cfg.MaxQueue = max(cfg.MaxQueue, 1)
	return &Pool{cfg: cfg}
}

// Config returns the pool's configuration.
func (p *Pool) Config() Config { return p.cfg }

// Post runs task on a pool thread: at once on an idle thread, else after
// the tasks already waiting. task gets the thread's index (0 to Threads-1).
// If MaxQueue tasks already wait, Post refuses the task: ok is false and
// waiting is how many wait. Otherwise waiting is the tasks waiting now, this
// one included (0: a thread took it at once).
func (p *Pool) Post(task func(thread int)) (waiting int, ok bool) {
	p.mu.Lock()
	if !p.started {
		p.start()
	}
	if len(p.idle) > 0 {
		t := p.idle[0]
		p.idle = p.idle[1:]
		p.busy++
		p.mu.Unlock()
		t.next <- task // buffered: never blocks
		return 0, true
	}
	if n := len(p.queue) - p.head; n >= p.cfg.MaxQueue {
		p.stats.Overflows++
		p.mu.Unlock()
		return n, false
	}
	p.queue = append(p.queue, task)
	n := len(p.queue) - p.head
	p.mu.Unlock()
	return n, true
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Threads, s.Busy, s.Waiting = p.cfg.Threads, p.busy, len(p.queue)-p.head
	return s
}

// start creates the threads, every one idle (under p.mu).
func (p *Pool) start() {
	p.started = true
	for i := 0; i < p.cfg.Threads; i++ {
		t := &thread{index: i, next: make(chan func(int), 1)}
		p.idle = append(p.idle, t)
		go p.run(t)
	}
}

// run is a thread: it runs the task it is handed, then the queue's oldest
// until the queue is empty, then goes idle again.
func (p *Pool) run(t *thread) {
	if p.cfg.LockOSThread {
		runtime.LockOSThread() // never unlocked: the thread is the pool's
	}
	for task := range t.next {
		for task != nil {
			task(t.index)
			task = p.finished(t)
		}
	}
}

// finished counts a task done and returns the next for thread t, or nil
// after putting t back among the idle.
func (p *Pool) finished(t *thread) func(int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Done++
	if p.head < len(p.queue) {
		task := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if p.head == len(p.queue) || p.head > len(p.queue)/2 {
			// Drop what has been taken, so a queue that never empties
			// does not grow by every task it ever held.
			n := copy(p.queue, p.queue[p.head:])
			clear(p.queue[n:])
			p.queue, p.head = p.queue[:n], 0
		}
		return task
	}
	p.busy--
	// Keep the idle list sorted, so a lone task runs on the lowest thread.
	i := 0
	for i < len(p.idle) && p.idle[i].index < t.index {
		i++
	}
	p.idle = append(p.idle, nil)
	copy(p.idle[i+1:], p.idle[i:])
	p.idle[i] = t
	return nil
}
