package stream

import "time"

// Event kinds (Event.Kind).
const (
	EventSpawn    = "spawn"     // supervisor started a worker process (Process, PID)
	EventReady    = "ready"     // the worker's instances are up (Dur: spawn, or a worker started ahead's adoption, to ready)
	EventExit     = "exit"      // a worker process ended (Cause, Status = exit code, -1 if killed)
	EventKill     = "kill"      // the supervisor killed a worker (Cause)
	EventConn     = "conn"      // a worker accepted a connection (Lane, Conn)
	EventReqStart = "req_start" // a request went into a guest (Lane, Conn, Req)
	EventReqRun   = "req_run"   // its handler first ran in the guest (Lane, Req): before it, it waited for the instance
	EventReqEnd   = "req_end"   // its response is written (Status, Bytes, Dur, Cause if it failed, Cancelled if its client went away; the phases)
	EventState    = "state"     // a lane changed state (State: a Scoreboard letter's name); with Trace only: the supervisor reads states from the scoreboard
	EventQueue    = "queue"     // accept-queue depth of the listening socket (Value)
	EventLag      = "lag"       // reactor loop lag samples (Samples, ns) and utilisation (Value, 0..1)
	EventLog      = "log"       // a line the guest printed (Stream, Text)
	EventBeat     = "heartbeat" // the worker is alive (sent every 2 s)
	EventPass     = "pass"      // the reactor loop's busy stretches since the last pass event (Passes)
	EventConns    = "conns"     // a process's connections: the reactor's Reading, Writing, Waiting (nginx stub_status); the event MPM listener's Writing (served) and Waiting (keep-alive it holds)

	// A task on the worker process's thread pool (guest.Pool.Compute and
	// Block), with Trace. Each names the request that posted it (Lane,
	// Req), the task (Task; none for an overflow), its Work and the call's
	// Where. A task's events are sent from different threads: T orders
	// them, not their place in the stream (its start may come first).
	EventPoolQueue    = "pool_queue"    // posted: Queued tasks now wait, itself included (0: a thread took it at once)
	EventPoolStart    = "pool_start"    // pool thread PoolThread took it after Wait ns in the queue
	EventPoolDone     = "pool_done"     // it ran Dur ns on PoolThread; its request goes on
	EventPoolOverflow = "pool_overflow" // refused at once: Queued tasks filled the queue; Cause is nginx's message
	// EventPool is a worker process's pool counters, with Trace, every
	// 100 ms while they change: PoolThreads, PoolBusy (threads running a
	// task), Queued (tasks waiting), PoolDone and Overflows (tasks done and
	// refused since the worker started).
	EventPool = "pool"
)

// What a thread-pool task or a loop segment was doing (Event.Work,
// PassSeg.Kind): guest.Pool's Compute and Block. A segment of the
// handler's own code has no kind ("").
const (
	WorkCompute = "compute"
	WorkBlock   = "block"
)

// Lane states (Event.State), named after Apache's scoreboard (mod_status).
const (
	StateIdle      = "idle"      // '_' waiting for a connection
	StateReading   = "reading"   // 'R' reading a request
	StateSending   = "sending"   // 'W' the handler runs and the reply is written
	StateKeepAlive = "keepalive" // 'K' a keep-alive connection waits for its next request
	StateBlocked   = "blocked"   // 'B' (ours) the guest is held in guest.Block
	StateDead      = "dead"      // '.' open slot: no worker
)

// Event is one trace event; a "trace" message carries a batch of them.
// The models' worker processes write them to their supervisor as JSON
// lines; the supervisor adds its own (spawn, exit, kill) and hands all of
// them to models.Config.OnEvent, which the playground streams to the page
// and mpmlab run --trace writes to a file.
//
// Times are Unix nanoseconds; durations are nanoseconds.
type Event struct {
	V       int     `json:"v"` // SchemaVersion
	T       int64   `json:"t"`
	Kind    string  `json:"kind"`
	Model   string  `json:"model,omitempty"`
	Process int     `json:"process"`          // worker process (loop) index
	Lane    int     `json:"lane"`             // thread index within the process; 0 for process and reactor
	PID     int     `json:"pid,omitempty"`    // OS pid of the worker process
	Conn    uint64  `json:"conn,omitempty"`   // connection id, unique within the worker process
	Req     uint64  `json:"req,omitempty"`    // request id, unique within the worker process
	State   string  `json:"state,omitempty"`  // for EventState
	Status  int     `json:"status,omitempty"` // HTTP status (req_end) or exit code (exit)
	Bytes   int64   `json:"bytes,omitempty"`
	Dur     int64   `json:"dur,omitempty"`
	Value   float64 `json:"value,omitempty"`
	Samples []int64 `json:"samples,omitempty"`
	Cause   string  `json:"cause,omitempty"`
	Stream  string  `json:"stream,omitempty"`
	Text    string  `json:"text,omitempty"`
	Method  string  `json:"method,omitempty"`
	Path    string  `json:"path,omitempty"` // request URI: path and query
	// Group is the load group the request belongs to (req_start, req_end),
	// named by the load generator in experiment.GroupHeader; "" for a
	// request from elsewhere.
	Group string `json:"group,omitempty"`
	// Sent (req_start) is when the load generator sent the request (Unix
	// ns, experiment.SentHeader); 0 if it did not say.
	Sent int64 `json:"sent,omitempty"`
	// Cancelled (req_end) says the client went away before the response
	// was complete: the request's context was cancelled in its guest.
	Cancelled bool `json:"cancelled,omitempty"`

	// The server-side phases of a request (req_end), in ns: Wait from the
	// request's delivery to its guest instance until its handler first ran
	// (queued behind whatever held a loop); Service from then until the
	// handler returned, of which Run it held the loop (its code ran: Compute
	// in guest.Compute and Block in guest.Block included) and the rest it
	// was parked (time.Sleep, channels) or ready while others ran. Hold is
	// its longest contiguous stretch on the loop, Where the position in the
	// handler's source that made it ("main.go:22").
	Wait    int64  `json:"wait,omitempty"`
	Service int64  `json:"service,omitempty"`
	Run     int64  `json:"run,omitempty"`
	Compute int64  `json:"compute,omitempty"`
	Block   int64  `json:"block,omitempty"`
	Hold    int64  `json:"hold,omitempty"`
	Where   string `json:"where,omitempty"`

	// Passes (pass events) are the loop's busy stretches, in order.
	Passes []Pass `json:"passes,omitempty"`

	// A loop's connections (conns events), as nginx's stub_status counts
	// them: reading a request, writing (a request in the loop: its handler
	// runs, waits or is parked), waiting (idle keep-alive).
	Reading int `json:"reading,omitempty"`
	Writing int `json:"writing,omitempty"`
	Waiting int `json:"waiting,omitempty"`

	// The thread pool (pool_* and pool events): Task is a task's id,
	// unique within its worker process; Work "compute" or "block";
	// PoolThread the pool thread that runs it, numbered from 1; the
	// counters as EventPool says.
	Task        uint64 `json:"task,omitempty"`
	Work        string `json:"work,omitempty"`
	PoolThread  int    `json:"pool_thread,omitempty"`
	Queued      int    `json:"queued,omitempty"`
	PoolBusy    int    `json:"pool_busy,omitempty"`
	PoolThreads int    `json:"pool_threads,omitempty"`
	PoolDone    uint64 `json:"pool_done,omitempty"`
	Overflows   uint64 `json:"overflows,omitempty"`
}

// Pass is one busy stretch of a reactor loop: from poll_oneoff returning
// until the guest waits in it again. At every instant at most one request
// holds the loop; Segs say which, in order. Time in a pass but in no
// segment was the loop's own (reading frames, scheduling).
//
// A pass that runs longer than a millisecond is sent as it goes, in
// chunks: events with the same T are one pass, each with its Dur so far
// and the segments that closed since the last.
//
// Passes too short to see are merged: N passes (N > 1) that followed each
// other with gaps under a millisecond make one Pass whose Busy is their
// summed length (Dur then spans them, gaps included), and whose segments
// under 100 µs are left out.
type Pass struct {
	T    int64     `json:"t"`   // start, Unix ns
	Dur  int64     `json:"dur"` // ns
	Busy int64     `json:"busy,omitempty"`
	N    int       `json:"n,omitempty"`
	Segs []PassSeg `json:"segs,omitempty"`
}

// PassSeg is one request's stretch on the loop within a Pass.
type PassSeg struct {
	Req   uint64 `json:"req"`            // the request (Event.Req)
	T     int64  `json:"t"`              // start, Unix ns
	Dur   int64  `json:"dur"`            // ns
	Kind  string `json:"kind,omitempty"` // WorkCompute, WorkBlock, or "" (the handler's own code)
	Where string `json:"where,omitempty"`
}

// Time returns e.T as a time.Time.
func (e *Event) Time() time.Time { return time.Unix(0, e.T) }
