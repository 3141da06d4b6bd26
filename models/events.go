package models

import "time"

// EventSchemaVersion is the version of Event's JSON form. It changes when a
// field changes meaning or goes away; new fields may be added within a
// version.
const EventSchemaVersion = 1

// Event kinds.
const (
	EventSpawn    = "spawn"     // supervisor started a worker process (Process, PID)
	EventReady    = "ready"     // the worker's instances are up (Dur: spawn to ready)
	EventExit     = "exit"      // a worker process ended (Cause, Status = exit code, -1 if killed)
	EventKill     = "kill"      // the supervisor killed a worker (Cause)
	EventConn     = "conn"      // a worker accepted a connection (Lane, Conn)
	EventReqStart = "req_start" // a request went into a guest (Lane, Conn, Req)
	EventReqEnd   = "req_end"   // its response is written (Status, Bytes, Dur, Cause if it failed)
	EventState    = "state"     // a lane changed state (State: a Scoreboard letter's name)
	EventQueue    = "queue"     // accept-queue depth of the listening socket (Value)
	EventLag      = "lag"       // reactor loop lag samples (Samples, ns) and utilisation (Value, 0..1)
	EventLog      = "log"       // a line the guest printed (Stream, Text)
	EventBeat     = "heartbeat" // the worker is alive (sent every second)
)

// Lane states, named after Apache's scoreboard (mod_status).
const (
	StateIdle      = "idle"      // '_' waiting for a connection
	StateReading   = "reading"   // 'R' reading a request
	StateSending   = "sending"   // 'W' the handler runs and the reply is written
	StateKeepAlive = "keepalive" // 'K' a keep-alive connection waits for its next request
	StateBlocked   = "blocked"   // 'B' (ours) the guest is held in guest.Block
	StateDead      = "dead"      // '.' open slot: no worker
)

// Event is one trace event. Children write them to the supervisor as JSON
// lines; the supervisor adds its own (spawn, exit, kill) and hands all of
// them to Config.OnEvent, which the playground streams to the browser.
//
// Times are Unix nanoseconds; durations are nanoseconds.
type Event struct {
	V       int     `json:"v"`
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
	Path    string  `json:"path,omitempty"`
}

// Time returns e.T as a time.Time.
func (e *Event) Time() time.Time { return time.Unix(0, e.T) }
