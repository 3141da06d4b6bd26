package models

// PoolStatus sums the thread pools of the live worker processes (each has
// one, under every model: guest.Pool's), from the latest counters each sent
// (EventPool; zero without Config.Trace).
type PoolStatus struct {
	Threads   int    // pool threads
	Busy      int    // threads running a task
	Queued    int    // tasks waiting for a thread
	Done      uint64 // tasks done
	Overflows uint64 // tasks refused: the queue was full
}

// Pool returns the pools' counters.
func (s *Supervisor) Pool() PoolStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p PoolStatus
	for _, c := range s.slots {
		if c == nil {
			continue
		}
		p.Threads += c.pool.PoolThreads
		p.Busy += c.pool.PoolBusy
		p.Queued += c.pool.Queued
		p.Done += c.pool.PoolDone
		p.Overflows += c.pool.Overflows
	}
	return p
}
