package stream

// Stats is a "stats" message: the load's figures over the last window
// (every 250 ms), and cumulative counts.
type Stats struct {
	Model      string  `json:"model"`
	Variant    string  `json:"variant,omitempty"` // a Compare over variants: which
	TMS        float64 `json:"t_ms"`              // since the load started
	RPS        float64 `json:"rps"`               // over the last window
	OK         int     `json:"ok"`                // 2xx and 3xx, cumulative
	Errors     int     `json:"errors"`            // everything else, cumulative
	P50MS      float64 `json:"p50_ms"`            // over the last window
	P90MS      float64 `json:"p90_ms"`
	P99MS      float64 `json:"p99_ms"`
	LagP50MS   float64 `json:"lag_p50_ms"`
	LagP99MS   float64 `json:"lag_p99_ms"`
	LoopUtil   float64 `json:"loop_util"` // -1 when there is no loop (or no sample)
	Queue      int     `json:"queue"`     // accept-queue depth
	Workers    int     `json:"workers"`   // worker processes alive
	Busy       int     `json:"busy"`      // lanes serving or holding a connection
	Scoreboard string  `json:"scoreboard"`
	// PSSKB is the worker processes' proportional set size, summed
	// (Result.PSSKB), and Held the connections they held open
	// (Result.ConnsHeld): sampled at most once a second, a tick between
	// two samples repeating the last.
	PSSKB int `json:"pss_kb"`
	Held  int `json:"held"`
	// Conns are the loops' connections as nginx's stub_status counts them
	// (nil for a model without a loop).
	Conns *Conns `json:"conns,omitempty"`
	// Histogram is the latencies so far, in experiment.HistogramBoundsMS's
	// buckets and a last unbounded one.
	Histogram []Bucket `json:"histogram"`
	// Groups are each load group's figures over the same window (rate
	// and percentiles) and cumulative counts, in the load's order (a load
	// of groups only).
	Groups []GroupStats `json:"groups,omitempty"`
}

// GroupStats is one load group's part of Stats.
type GroupStats struct {
	Name   string  `json:"name"`
	RPS    float64 `json:"rps"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
}

// Conns are a loop's connections by state, as nginx's stub_status counts
// them.
type Conns struct {
	Reading int `json:"reading"` // reading a request
	Writing int `json:"writing"` // its request is in the loop: running, waiting for it, or parked
	Waiting int `json:"waiting"` // idle keep-alive
}

// Bucket is one bucket of Stats.Histogram: Count latencies at most LeMS
// (and over the previous bucket's). Counts are not cumulative.
type Bucket struct {
	LeMS  float64 `json:"le_ms"` // -1: +Inf
	Count int     `json:"count"`
}
