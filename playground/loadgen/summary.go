package loadgen

import (
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Result is one finished request, as passed to Config.OnResult.
type Result struct {
	// Group is the index of the request's group in Load.Groups (0 for Run).
	Group int
	// Start is when the request was due: its send time in closed loop, its
	// scheduled time in open loop (so Latency includes the wait for a slot).
	Start time.Time
	// Latency runs from Start until the response body has been read, or until
	// the request failed.
	Latency time.Duration
	// Status is the response status code, or 0 if there was no response.
	Status int
	// Bytes is the number of body bytes read.
	Bytes int64
	// Err is a transport error: no response, or a body cut short (then Status
	// is set too). A request with an error counts in Summary.Errors only.
	Err error
	// Header is the response header, e.g. for X-Mpmlab-Worker. Summaries do not
	// keep it.
	Header http.Header
}

// Summary is what a run measured: the stream's schema type, which the
// playground sends in its summary message. It marshals to JSON with the
// field names in its tags; durations are integers in nanoseconds.
type Summary = stream.LoadSummary

// GroupSummary is one group's part of a load's summary.
type GroupSummary = stream.GroupSummary

// LatencyStats are latency percentiles, exact (nearest rank over every
// latency).
type LatencyStats = stream.LatencyStats

// Bucket is one histogram bucket: Count latencies greater than the previous
// bucket's Le and at most Le. Counts are not cumulative.
type Bucket = stream.LatencyBucket

// histogramBuckets is the number of histogram buckets when latencies vary
// enough to fill them.
const histogramBuckets = 12

// Summarize summarises results of a run that took elapsed. Run uses the same
// code on compact per-client tallies; Summarize is for results collected
// elsewhere, e.g. through Config.OnResult.
func Summarize(results []Result, elapsed time.Duration) *Summary {
	t := &tally{latencies: make([]time.Duration, 0, len(results))}
	for i := range results {
		t.add(&results[i])
	}
	return t.summary(elapsed)
}

// tally accumulates results compactly: counters, and one 8-byte latency per
// response, so 1M requests cost 8 MB. Not safe for concurrent use: Run keeps
// one per client goroutine and merges them at the end.
type tally struct {
	requests, succeeded, errors int
	bytes                       int64
	latencies                   []time.Duration
	status                      map[int]int
	errKinds                    map[string]int
}

func (t *tally) add(r *Result) {
	t.requests++
	t.bytes += r.Bytes
	if r.Err != nil {
		t.errors++
		if t.errKinds == nil {
			t.errKinds = make(map[string]int)
		}
		t.errKinds[errorKind(r.Err)]++
		return
	}
	if r.Status >= 200 && r.Status < 400 {
		t.succeeded++
	}
	if t.status == nil {
		t.status = make(map[int]int)
	}
	t.status[r.Status]++
	t.latencies = append(t.latencies, r.Latency)
}

func (t *tally) merge(o *tally) {
	t.requests += o.requests
	t.succeeded += o.succeeded
	t.errors += o.errors
	t.bytes += o.bytes
	t.latencies = append(t.latencies, o.latencies...)
	for k, v := range o.status {
		if t.status == nil {
			t.status = make(map[int]int)
		}
		t.status[k] += v
	}
	for k, v := range o.errKinds {
		if t.errKinds == nil {
			t.errKinds = make(map[string]int)
		}
		t.errKinds[k] += v
	}
}

// summary sorts t.latencies in place and builds the Summary.
func (t *tally) summary(elapsed time.Duration) *Summary {
	s := &Summary{
		Requests:    t.requests,
		Succeeded:   t.succeeded,
		Errors:      t.errors,
		Duration:    elapsed,
		StatusCodes: make(map[int]int, len(t.status)),
		ErrorKinds:  make(map[string]int, len(t.errKinds)),
		BytesRead:   t.bytes,
	}
	if elapsed > 0 {
		s.RPS = float64(t.requests) / elapsed.Seconds()
	}
	for k, v := range t.status {
		s.StatusCodes[k] = v
	}
	for k, v := range t.errKinds {
		s.ErrorKinds[k] = v
	}
	slices.Sort(t.latencies)
	s.Latency = latencyStats(t.latencies)
	s.Histogram = histogram(t.latencies)
	return s
}

// latencyStats computes the stats of sorted latencies.
func latencyStats(sorted []time.Duration) LatencyStats {
	n := len(sorted)
	if n == 0 {
		return LatencyStats{}
	}
	var sum float64 // an int64 sum of 1M latencies of minutes would overflow
	for _, d := range sorted {
		sum += float64(d)
	}
	return LatencyStats{
		Min:  sorted[0],
		Mean: time.Duration(sum / float64(n)),
		P50:  experiment.Percentile(sorted, 0.50),
		P90:  experiment.Percentile(sorted, 0.90),
		P99:  experiment.Percentile(sorted, 0.99),
		Max:  sorted[n-1],
	}
}

// histogram distributes sorted latencies over log-spaced buckets from the
// minimum to the maximum: latencies spread over orders of magnitude (a fast
// path and a queue), which linear buckets would crush into the first one.
func histogram(sorted []time.Duration) []Bucket {
	n := len(sorted)
	if n == 0 {
		return []Bucket{}
	}
	lo, hi := sorted[0], sorted[n-1]
	if lo == hi {
		return []Bucket{{Le: hi, Count: n}}
	}
	flo := math.Max(float64(lo), 1)
	ratio := float64(hi) / flo
	buckets := make([]Bucket, 0, histogramBuckets)
	for i := 1; i <= histogramBuckets; i++ {
		le := time.Duration(flo * math.Pow(ratio, float64(i)/histogramBuckets))
		if i == histogramBuckets {
			le = hi
		}
		if len(buckets) > 0 && le <= buckets[len(buckets)-1].Le {
			continue // too narrow a range for this many buckets
		}
		buckets = append(buckets, Bucket{Le: le})
	}
	j := 0
	for _, d := range sorted {
		for d > buckets[j].Le {
			j++
		}
		buckets[j].Count++
	}
	return buckets
}
