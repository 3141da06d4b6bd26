package models

import (
	"bufio"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// A row is shared: what one mapping of the file writes, another reads,
// as the worker's and the supervisor's do; a fresh row reads idle.
func TestBoardRowShared(t *testing.T) {
	sup, f, err := newBoardRow(3)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.close()
	wk, err := mapBoardRow(f, 3)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer wk.close()
	for i := range 3 {
		if got := sup.state(i); got != laneIdle {
			t.Errorf("fresh lane %d reads %v, want idle", i, got)
		}
	}
	wk.lanes[2].Store(uint32(laneKeepAlive))
	if got := sup.state(2); got != laneKeepAlive {
		t.Errorf("lane 2 reads %v, want keepalive", got)
	}
	if got := laneState(99).String(); got != stream.StateDead {
		t.Errorf("an unknown word reads %q, want %q", got, stream.StateDead)
	}
}

// BenchmarkLaneState is what one change of a lane's state costs, in CPU
// time of the whole process (cpu-ns/op), with both sides in it:
//
//   - scoreboard: the worker's atomic store into its shared row (the
//     supervisor reads it when it wants, once a second);
//   - events: the alternative weighed in RATIONALE.md ("The scoreboard"),
//     an EventState for every change on the event pipe, which is what
//     tracing costs now: the worker's queue and JSON encoding and write,
//     the supervisor's read and decoding (handleEvent).
//
// A prefork request changes its lane's state three times (reading,
// sending, then keep-alive or idle).
func BenchmarkLaneState(b *testing.B) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	states := [2]laneState{laneReading, laneSending}
	b.Run("scoreboard", func(b *testing.B) {
		row, f, err := newBoardRow(1)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		defer row.close()
		w := &worker{}
		l := &lane{state: &row.lanes[0]}
		c0 := cpu()
		for i := 0; b.Loop(); i++ {
			w.setState(l, states[i%2])
		}
		b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("events", func(b *testing.B) {
		pr, pw, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		s := &Supervisor{cfg: Config{Logf: func(string, ...any) {}}}
		c := &child{}
		const batch = 512 // under the writer's queue: nothing is dropped
		var got atomic.Int64
		caughtUp := make(chan struct{}, 1)
		read := make(chan struct{})
		go func() {
			defer close(read)
			r := bufio.NewReaderSize(pr, maxEventLine)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				s.handleEvent(c, line)
				if got.Add(1)%batch == 0 {
					caughtUp <- struct{}{}
				}
			}
		}()
		w := &worker{spec: workerSpec{Trace: true}, events: newEventWriter(pw)}
		row := privateRow(1)
		l := &lane{state: &row.lanes[0]}
		c0 := cpu()
		n := 0
		for i := 0; b.Loop(); i++ {
			w.setState(l, states[i%2])
			if n++; n%batch == 0 {
				<-caughtUp
			}
		}
		w.events.close()
		pw.Close()
		<-read
		used := cpu() - c0
		pr.Close()
		if got.Load() != int64(n) {
			b.Fatalf("%d events read of %d sent", got.Load(), n)
		}
		b.ReportMetric(float64(used)/float64(n), "cpu-ns/op")
	})
}
