package models

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// The scoreboard: each worker process's lane states, in memory that the
// worker and the supervisor share, as Apache's parent and children share
// theirs. The worker writes a lane's word with an atomic store when the
// lane changes state; the supervisor reads the words whenever it wants
// them (spare-server maintenance once a second, /server-status,
// the playground's snapshots). Nothing is sent, so it costs a request no
// more than the store, and it works whether or not anyone traces.
//
// The supervisor makes one row per worker process it spawns:
//
//	r, f, err := newBoardRow(lanes) // supervisor: a memfd (Linux) or an unlinked file, mapped
//	cmd.ExtraFiles = []*os.File{ln, events, f} // the worker's fd 5
//	...
//	r, err := mapBoardRow(os.NewFile(boardFD, "mpmlab-scoreboard"), lanes) // worker
//	r.lanes[i].Store(uint32(laneSending))
//
// # Notes
//
//   - A row belongs to one process, not to a slot: while a slot changes
//     hands (the switch from the interpreter, a retiring process and its
//     successor) two processes of one slot write rows of their own.
//   - A fresh row reads all idle (laneIdle is zero), which is how the
//     supervisor counts a process that is still starting, as Apache does.
//   - The supervisor unmaps a row once it has reaped its process, under its
//     lock, after taking the process out of the slots: no reader is left.
//   - Words are read and written only with atomics; they are aligned (the
//     mapping starts on a page) and the hardware's atomics work across
//     processes on a shared mapping.
//   - The live view's EventState events are separate: sent only while
//     tracing, they are the transitions, and the scoreboard is the state.

// boardFD is the worker's scoreboard row (after listenFD and eventFD).
const boardFD = 5

// laneState is a lane's word on the scoreboard.
type laneState uint32

// Lane states as scoreboard words; their names are the State* constants.
const (
	laneIdle laneState = iota // zero: what a fresh row reads
	laneReading
	laneSending
	laneKeepAlive
	laneBlocked
	laneDead
)

var laneStateNames = [...]string{
	laneIdle:      stream.StateIdle,
	laneReading:   stream.StateReading,
	laneSending:   stream.StateSending,
	laneKeepAlive: stream.StateKeepAlive,
	laneBlocked:   stream.StateBlocked,
	laneDead:      stream.StateDead,
}

// String returns the state's name (a State* constant); a word no worker
// writes reads as dead.
func (s laneState) String() string {
	if int(s) < len(laneStateNames) {
		return laneStateNames[s]
	}
	return stream.StateDead
}

// boardRow is one worker process's row of the scoreboard: a word per lane,
// then per lane the deadline its runaway guard is armed for.
type boardRow struct {
	mem   []byte          // the shared mapping; nil for a private row
	lanes []atomic.Uint32 // laneState words, in mem (or on the heap)
	// guards are the lanes' runaway-guard deadlines (Unix ns; 0: not
	// armed), written by the worker's deadman as it arms and disarms the
	// kernel timer. A worker killed by SIGKILL was killed by its guard
	// only if one was due: otherwise by someone else (the kernel's OOM
	// killer, kill -9), and reap says so.
	guards []atomic.Int64
}

// privateRow is a row no other process sees (tests' workers).
func privateRow(lanes int) *boardRow {
	return &boardRow{lanes: make([]atomic.Uint32, lanes), guards: make([]atomic.Int64, lanes)}
}

// guardDue reports whether a lane's runaway guard was due at t: armed
// for a deadline at or before t (with slack for the timer's own latency);
// if so, the earliest such deadline.
func (r *boardRow) guardDue(t time.Time) (time.Time, bool) {
	var due time.Time
	for i := range r.guards {
		if d := r.guards[i].Load(); d != 0 && time.Unix(0, d).Before(t.Add(guardSlack)) && (due.IsZero() || time.Unix(0, d).Before(due)) {
			due = time.Unix(0, d)
		}
	}
	return due, !due.IsZero()
}

// guardSlack is how early before its deadline a SIGKILL may arrive and
// still be the guard's: the supervisor reaps a moment after the kill.
const guardSlack = 50 * time.Millisecond

// newBoardRow makes a row for a worker process with lanes lanes: the
// supervisor's mapping, and the file to pass to the worker (the caller
// closes it once the worker has started; the mapping stays).
func newBoardRow(lanes int) (*boardRow, *os.File, error) {
	f, err := sharedFile("mpmlab-scoreboard", rowSize(lanes))
	if err != nil {
		return nil, nil, fmt.Errorf("scoreboard: %w", err)
	}
	r, err := mapBoardRow(f, lanes)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// mapBoardRow maps the row in f, which holds lanes words.
func mapBoardRow(f *os.File, lanes int) (*boardRow, error) {
	mem, err := syscall.Mmap(int(f.Fd()), 0, rowSize(lanes), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: mapping fd %d: %w", f.Fd(), err)
	}
	return &boardRow{
		mem:    mem,
		lanes:  unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(&mem[0])), lanes),
		guards: unsafe.Slice((*atomic.Int64)(unsafe.Pointer(&mem[guardsOffset(lanes)])), lanes),
	}, nil
}

// rowSize is a row's bytes: the lanes' words, then their guards' 8-byte
// deadlines, aligned.
func rowSize(lanes int) int { return guardsOffset(lanes) + max(lanes, 1)*8 }

func guardsOffset(lanes int) int { return (max(lanes, 1)*4 + 7) &^ 7 }

// state reads lane i's state.
func (r *boardRow) state(i int) laneState { return laneState(r.lanes[i].Load()) }

// close unmaps the row; nothing may read it afterwards.
func (r *boardRow) close() {
	if r.mem != nil {
		syscall.Munmap(r.mem)
		r.mem, r.lanes, r.guards = nil, nil, nil
	}
}
