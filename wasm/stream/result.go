package stream

import "time"

// Result is a "summary" message: what one model's run measured, the
// load's summary and the server's side of it.
type Result struct {
	Model string `json:"model"`
	// Variant is the variant's name, in a Compare over variants.
	Variant string `json:"variant,omitempty"`
	// Summary is the load generator's summary of the whole load (its
	// Groups are in Result.Groups instead).
	Summary *LoadSummary `json:"summary"`
	// RSSKB is the worker processes' resident memory, summed, sampled near
	// the end of the load.
	RSSKB int `json:"rss_kb"`
	// PSSKB is the worker processes' proportional set size, summed: their
	// resident memory with each page shared by n processes (the binary's
	// text, the guest's compiled code) counted 1/n. It is the last of the
	// stats' memory samples (at most one a second) at which the workers
	// held the most connections (ConnsHeld): the same point of the load
	// for every model. Where no sample saw a connection held, it is the
	// last one's.
	PSSKB int `json:"pss_kb"`
	// PSSBeforeKB is the worker processes' PSS, summed, once they had
	// started and before the load sent anything.
	PSSBeforeKB int `json:"pss_before_kb"`
	// ConnsHeld is the most connections the workers held open at a stats
	// tick: accepted and not yet closed, as the kernel counts them
	// (models.HeldConns); those still in the accept queue are not held.
	ConnsHeld int `json:"conns_held"`
	// PerConnKB is the memory per open connection, PerConnKB(PSSBeforeKB,
	// PSSKB, ConnsHeld); -1 (n/a) when fewer than MinConnsPerConn were
	// held.
	PerConnKB float64 `json:"per_conn_kb"`
	// Sentence says what happened, from the numbers below.
	Sentence string `json:"sentence"`
	// Workers is the most worker processes alive at once during the load;
	// Lanes the threads (or 1) of each; BusyPeak the most lanes busy at
	// once: holding a connection at a stats tick, or serving a request
	// between its req_start and req_end (so a lane busy only between two
	// ticks, as a crashing request's, counts).
	Workers  int `json:"workers"`
	Lanes    int `json:"lanes"`
	BusyPeak int `json:"busy_peak"`
	// QueuePeak is the deepest the accept queue got.
	QueuePeak int `json:"queue_peak"`
	// Pinning is keep-alive pinning, if a stats tick saw it (nil if not).
	Pinning *Pinning `json:"pinning,omitempty"`
	// LoopUtil is the loops' busy fraction over the load (-1 for a model
	// without a loop); LagP99MS the 99th percentile of loop lag.
	LoopUtil float64 `json:"loop_util"`
	LagP99MS float64 `json:"lag_p99_ms"`
	// WaitP50MS and ServiceP50MS are the requests' server-side phases:
	// from their delivery to the worker's guest until the handler ran, and
	// from then until it returned (-1: not measured).
	WaitP50MS    float64 `json:"wait_p50_ms"`
	ServiceP50MS float64 `json:"service_p50_ms"`
	// QueueP50MS is the median of the requests' time outside the server's
	// phases: each request's client-side latency minus its own wait and
	// service, which its response reports (models.PhasesHeader). That is
	// the time before its worker had it: on loopback, the accept queue,
	// plus reading the request and writing the response (-1: no response
	// reported its phases).
	QueueP50MS float64 `json:"queue_p50_ms"`
	// P50Parts is where the median request's latency went (nil: no
	// response reported its phases).
	P50Parts *LatencyParts `json:"p50_parts,omitempty"`
	// KeepAlive says whether connections could be kept alive: the
	// server's KeepAlive, and a load group's client keeping them.
	KeepAlive bool `json:"keepalive"`
	// KeptAlive counts requests that came on a connection after an earlier
	// request on it: between the two the connection was idle, kept alive
	// (by its lane, or under event by its process's listener).
	KeptAlive int `json:"kept_alive"`
	// LongestHold is the longest time one request held a loop while
	// nothing else could run in it (models with a loop only).
	LongestHold *Hold `json:"longest_hold,omitempty"`
	// Deaths counts worker processes that died during the load (Kills of
	// them killed by the supervisor, e.g. a runaway request); DeathCause
	// is the first cause.
	Deaths     int    `json:"deaths"`
	Kills      int    `json:"kills"`
	DeathCause string `json:"death_cause,omitempty"`
	// DeathFailed counts the requests a worker failed (a 502 or 504 with
	// a cause) in a process that then died during the load: the requests
	// the deaths took with them.
	DeathFailed int `json:"death_failed"`
	// Pool is what the worker processes' thread pools did (nil if no
	// request used one).
	Pool *PoolResult `json:"pool,omitempty"`
	// Groups are each load group's results, in the load's order (a load
	// with groups only).
	Groups []GroupResult `json:"groups,omitempty"`
	// Error is set when the model could not be run.
	Error string `json:"error,omitempty"`
}

// MinConnsPerConn is the fewest connections held over which memory is
// divided per connection. Below it the guest's own movements (a garbage
// collection, a heap that grows by a few MB for a request) outweigh what
// the connections cost, and the quotient would say nothing.
const MinConnsPerConn = 100

// PerConnKB is the memory per open connection, in KiB: the growth of the
// workers' PSS from before the load (beforeKB) to the moment they held
// conns connections (duringKB), divided by conns. Processes started
// during the load count whole in the growth: under prefork holding more
// connections costs more processes. -1 (n/a) when conns <
// MinConnsPerConn; 0 when the memory did not grow.
func PerConnKB(beforeKB, duringKB, conns int) float64 {
	if conns < MinConnsPerConn {
		return -1
	}
	if duringKB <= beforeKB {
		return 0
	}
	return float64(duringKB-beforeKB) / float64(conns)
}

// GroupResult is what one load group measured under one model: its part
// of a Result.
type GroupResult struct {
	Name    string       `json:"name"`
	Summary *LoadSummary `json:"summary"`
	// The server-side phases of its requests (-1: not measured): waiting
	// for the instance (for a loop: behind whatever held it), and the
	// handler running.
	WaitP50MS    float64 `json:"wait_p50_ms"`
	WaitP99MS    float64 `json:"wait_p99_ms"`
	ServiceP50MS float64 `json:"service_p50_ms"`
	ServiceP99MS float64 `json:"service_p99_ms"`
	// LongestHold is the longest time one of its requests held a loop
	// (loops only).
	LongestHold *Hold `json:"longest_hold,omitempty"`
	// DeathFailed counts its requests the deaths took (Result.DeathFailed).
	DeathFailed int `json:"death_failed"`
	// P50Parts is where its median request's latency went (nil: none of
	// its responses reported their phases).
	P50Parts *LatencyParts `json:"p50_parts,omitempty"`
	// Sentence says what happened to this group, and why.
	Sentence string `json:"sentence"`
}

// LatencyParts is where the median requests' latency went: the requests
// whose latency is within 5% of the load's p50 (or, if none, the median
// one) and whose response reported its phases, averaged. Their parts sum
// to their mean latency, LatencyMS.
type LatencyParts struct {
	Requests  int     `json:"requests"`
	LatencyMS float64 `json:"latency_ms"`
	// QueueMS is the time outside the server's phases (Result.QueueP50MS
	// says what that is); WaitMS and ServiceMS the server-side phases.
	QueueMS   float64 `json:"queue_ms"`
	WaitMS    float64 `json:"wait_ms"`
	ServiceMS float64 `json:"service_ms"`
}

// Hold names the longest time one request held a loop.
type Hold struct {
	MS     float64 `json:"ms"`
	Group  string  `json:"group,omitempty"` // the request's load group
	Method string  `json:"method"`
	Path   string  `json:"path"`  // request URI
	Where  string  `json:"where"` // position in the handler's source
}

// PoolResult is what the thread pools did during a load: their threads
// (per process), the tasks that ran, their wait in the pool's queue, the
// deepest the queue got, and the tasks refused because it was full.
type PoolResult struct {
	Threads   int     `json:"threads"`
	Tasks     int     `json:"tasks"`
	WaitP50MS float64 `json:"wait_p50_ms"`
	WaitP99MS float64 `json:"wait_p99_ms"`
	QueuePeak int     `json:"queue_peak"`
	Overflows int     `json:"overflows"`
}

// Pinning is what the stats ticks saw of keep-alive pinning under a model
// whose connections pin a lane: every lane held by a keep-alive
// connection, up to Idle of them idle waiting for their client's next
// request, while up to Queue connections waited in the accept queue for
// one to close.
type Pinning struct {
	Lanes int `json:"lanes"`
	Idle  int `json:"idle"`
	Queue int `json:"queue"`
}

// LoadSummary is what a load measured, client-side (loadgen.Summary is
// this type). Durations are integers in nanoseconds.
type LoadSummary struct {
	// Requests counts every recorded request: Succeeded + Errors + responses
	// with other status codes (1xx, 4xx, 5xx).
	Requests int `json:"requests"`
	// Succeeded counts responses with a 2xx or 3xx status.
	Succeeded int `json:"succeeded"`
	// Errors counts transport errors: requests without a complete response.
	Errors int `json:"errors"`
	// Duration is the wall time of the run, including the drain of the
	// requests in flight at its end.
	Duration time.Duration `json:"duration_ns"`
	// RPS is Requests / Duration.
	RPS float64 `json:"rps"`
	// Latency is over the requests that got a complete response, whatever
	// their status code.
	Latency LatencyStats `json:"latency"`
	// StatusCodes counts complete responses by status code.
	StatusCodes map[int]int `json:"status_codes"`
	// ErrorKinds counts errors by a short, normalised kind: "connection
	// refused", "connection reset", "timeout", "EOF", "not sent", ...
	ErrorKinds map[string]int `json:"error_kinds"`
	// Histogram is the latency distribution in log-spaced buckets between Min
	// and Max.
	Histogram []LatencyBucket `json:"histogram"`
	// BytesRead is the total of response body bytes read.
	BytesRead int64 `json:"bytes_read"`
	// Groups is each group's own summary, in the order of the load's
	// groups.
	Groups []GroupSummary `json:"groups,omitempty"`
}

// GroupSummary is one group's part of a load's summary.
type GroupSummary struct {
	Name    string       `json:"name"`
	Summary *LoadSummary `json:"summary"`
}

// LatencyStats are latency percentiles, exact (nearest rank over every
// latency).
type LatencyStats struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

// LatencyBucket is one bucket of LoadSummary.Histogram: Count latencies
// greater than the previous bucket's Le and at most Le. Counts are not
// cumulative.
type LatencyBucket struct {
	Le    time.Duration `json:"le_ns"`
	Count int           `json:"count"`
}
