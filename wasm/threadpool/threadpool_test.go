package threadpool

import (
	"sync"
	"testing"
	"time"
)

// A task that waits for release, reporting the thread it runs on.
type gate struct {
	started chan int
	release chan struct{}
}

func newGate() *gate { return &gate{started: make(chan int, 100), release: make(chan struct{})} }

func (g *gate) task(thread int) {
	g.started <- thread
	<-g.release
}

func (g *gate) wait(t *testing.T, n int) []int {
	t.Helper()
	var threads []int
	for range n {
		select {
		case k := <-g.started:
			threads = append(threads, k)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d tasks started", len(threads), n)
		}
	}
	return threads
}

// Threads take tasks at once while idle; past them tasks wait, up to
// MaxQueue; past that a task is refused with the number waiting, as nginx's
// ngx_thread_task_post refuses it.
func TestQueueOverflow(t *testing.T) {
	p := New(Config{Threads: 2, MaxQueue: 3})
	g := newGate()
	for i, want := range []int{0, 0, 1, 2, 3} {
		waiting, ok := p.Post(g.task)
		if !ok || waiting != want {
			t.Fatalf("task %d: waiting %d ok %v, want %d true", i, waiting, ok, want)
		}
	}
	if threads := g.wait(t, 2); threads[0]+threads[1] != 1 {
		t.Fatalf("first two tasks ran on threads %v, want 0 and 1", threads)
	}
	waiting, ok := p.Post(g.task)
	if ok || waiting != 3 {
		t.Fatalf("sixth task: waiting %d ok %v, want 3 false", waiting, ok)
	}
	if s := p.Stats(); s != (Stats{Threads: 2, Busy: 2, Waiting: 3, Overflows: 1}) {
		t.Fatalf("stats %+v", s)
	}
	close(g.release)
	g.wait(t, 3)
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Done != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 5 done", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if s := p.Stats(); s.Busy != 0 || s.Waiting != 0 {
		t.Fatalf("stats %+v after the tasks, want none busy or waiting", s)
	}
}

// Waiting tasks run in the order they were posted.
func TestFIFO(t *testing.T) {
	p := New(Config{Threads: 1, MaxQueue: 100})
	g := newGate()
	p.Post(g.task)
	g.wait(t, 1)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		if _, ok := p.Post(func(int) { mu.Lock(); order = append(order, i); mu.Unlock(); wg.Done() }); !ok {
			t.Fatal("refused")
		}
	}
	close(g.release)
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("order %v", order)
		}
	}
}

// A queue that never empties does not keep every task it ever held.
func TestQueueCompacts(t *testing.T) {
	p := New(Config{Threads: 1, MaxQueue: 10})
	g := newGate()
	p.Post(g.task)
	g.wait(t, 1)
	done := make(chan struct{}, 10000)
	for range 10 {
		p.Post(func(int) { done <- struct{}{} })
	}
	close(g.release)
	for range 5000 {
		<-done
		p.Post(func(int) { done <- struct{}{} })
	}
	p.mu.Lock()
	n := cap(p.queue)
	p.mu.Unlock()
	if n > 64 {
		t.Fatalf("queue capacity %d after 5000 tasks through a queue of 10", n)
	}
}

// The refusal reads as nginx logs it (ngx_thread_task_post).
func TestOverflowMessage(t *testing.T) {
	if got, want := OverflowMessage(2), `thread pool "default" queue overflow: 2 tasks waiting`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
