package playground

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// statsInterval is how often a run sends a "stats" event.
const statsInterval = 250 * time.Millisecond

// histBounds are the upper bounds of the stats histogram's buckets, in ms;
// a last bucket holds the rest.
var histBounds = experiment.HistogramBoundsMS

// liveStats tallies the load generator's results as they come
// (loadgen.Load.OnResult: concurrent, cheap): the whole load's, and each
// group's.
type liveStats struct {
	mu     sync.Mutex
	all    tallyWindow
	hist   []int         // per bucket, cumulative over the run (the whole load)
	groups []tallyWindow // by loadgen.Result.Group
	names  []string      // the groups' names
}

// tallyWindow is one stream of results: the latencies of the current
// window, and cumulative counts.
type tallyWindow struct {
	window []time.Duration // latencies since the last snapshot
	winN   int             // results since the last snapshot
	ok     int             // 2xx and 3xx, cumulative
	errors int             // everything else, cumulative

	// The previous snapshot's window, which a short last one joins.
	prev    []time.Duration
	prevN   int
	prevWin time.Duration
}

func (w *tallyWindow) add(r *loadgen.Result) {
	w.winN++
	if r.Err == nil && r.Status >= 200 && r.Status < 400 {
		w.ok++
	} else {
		w.errors++
	}
	if r.Err == nil {
		w.window = append(w.window, r.Latency)
	}
}

// newLiveStats tallies a load of the named groups.
func newLiveStats(groups []string) *liveStats {
	return &liveStats{hist: make([]int, len(histBounds)+1), groups: make([]tallyWindow, len(groups)), names: groups}
}

func (l *liveStats) add(r loadgen.Result) {
	msv := ms(r.Latency)
	b := sort.SearchFloat64s(histBounds, msv)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.add(&r)
	if r.Group >= 0 && r.Group < len(l.groups) {
		l.groups[r.Group].add(&r)
	}
	if r.Err == nil {
		l.hist[b]++
	}
}

// statsEvent is the data of a "stats" event.
type statsEvent struct {
	Model      string  `json:"model"`
	Variant    string  `json:"variant,omitempty"` // a Compare over variants: which
	TMS        float64 `json:"t_ms"`              // since the load started
	RPS        float64 `json:"rps"`               // over the last window
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	P50MS      float64 `json:"p50_ms"` // over the last window
	P90MS      float64 `json:"p90_ms"`
	P99MS      float64 `json:"p99_ms"`
	LagP50MS   float64 `json:"lag_p50_ms"`
	LagP99MS   float64 `json:"lag_p99_ms"`
	LoopUtil   float64 `json:"loop_util"` // -1 when there is no loop (or no sample)
	Queue      int     `json:"queue"`
	Workers    int     `json:"workers"` // worker processes alive
	Busy       int     `json:"busy"`    // lanes serving or holding a connection
	Scoreboard string  `json:"scoreboard"`
	// Conns are the reactor loops' connections as nginx's stub_status
	// counts them (nil for the other models).
	Conns     *connCounts  `json:"conns,omitempty"`
	Histogram []histBucket `json:"histogram"`
	// Groups are each load group's figures over the same window (rate
	// and percentiles) and cumulative counts, in the load's order.
	Groups []groupStats `json:"groups,omitempty"`
}

// groupStats is one load group's part of a stats event.
type groupStats struct {
	Name   string  `json:"name"`
	RPS    float64 `json:"rps"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
}

// connCounts are a loop's connections by state (stub_status).
type connCounts struct {
	Reading int `json:"reading"` // reading a request
	Writing int `json:"writing"` // its request is in the loop: running, waiting for it, or parked
	Waiting int `json:"waiting"` // idle keep-alive
}

// holdInfo names the longest time one request held a loop.
type holdInfo struct {
	MS     float64 `json:"ms"`
	Group  string  `json:"group,omitempty"` // the request's load group
	Method string  `json:"method"`
	Path   string  `json:"path"`  // request URI
	Where  string  `json:"where"` // position in the handler's source
}

// String says it as the live view and the sentence do:
// "212 ms by GET /?ms=200 at main.go:22".
func (h *holdInfo) String() string {
	s := fmtMS(h.MS) + " by " + strings.TrimSpace(h.Method+" "+h.Path)
	if h.Where != "" {
		s += " at " + h.Where
	}
	return s
}

type histBucket struct {
	LeMS  float64 `json:"le_ms"` // -1: +Inf
	Count int     `json:"count"`
}

// minStatsWindow is the shortest window a stats event's rate and
// percentiles are taken over. The load ends between two ticks: its last
// window, often a few milliseconds long, joins the one before it, else a
// handful of results in 1 ms would read as thousands of requests a second.
const minStatsWindow = statsInterval / 2

// snapshot returns the stats of the window since the last snapshot (of
// length win; joined to the previous one when shorter than minStatsWindow)
// and the cumulative counts, and how many results the window had.
func (l *liveStats) snapshot(win time.Duration) (statsEvent, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat, n, fresh, w := l.all.take(win)
	ev := statsEvent{OK: l.all.ok, Errors: l.all.errors, Histogram: make([]histBucket, len(l.hist))}
	for i, c := range l.hist {
		le := -1.0
		if i < len(histBounds) {
			le = histBounds[i]
		}
		ev.Histogram[i] = histBucket{LeMS: le, Count: c}
	}
	if w > 0 {
		ev.RPS = round2(float64(n) / w.Seconds())
	}
	ev.P50MS, ev.P90MS, ev.P99MS = round2(ms(experiment.Percentile(lat, 0.50))), round2(ms(experiment.Percentile(lat, 0.90))), round2(ms(experiment.Percentile(lat, 0.99)))
	for i := range l.groups {
		g := &l.groups[i]
		lat, n, _, w := g.take(win)
		gs := groupStats{Name: l.names[i], OK: g.ok, Errors: g.errors,
			P50MS: round2(ms(experiment.Percentile(lat, 0.50))), P99MS: round2(ms(experiment.Percentile(lat, 0.99)))}
		if w > 0 {
			gs.RPS = round2(float64(n) / w.Seconds())
		}
		ev.Groups = append(ev.Groups, gs)
	}
	return ev, fresh
}

// take ends the current window (of length win) and returns its latencies,
// sorted, and results over the window w they are taken over (joined to the
// previous one when shorter than minStatsWindow), and how many results
// are new.
func (t *tallyWindow) take(win time.Duration) (lat []time.Duration, n, fresh int, w time.Duration) {
	lat, n, w = t.window, t.winN, win
	t.window, t.winN = nil, 0
	fresh = n
	if win < minStatsWindow && t.prevWin > 0 {
		lat, n, w = append(slices.Clone(t.prev), lat...), n+t.prevN, win+t.prevWin
	}
	t.prev, t.prevN, t.prevWin = lat, n, w
	slices.Sort(lat)
	return lat, n, fresh, w
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// busyLane reports whether a lane state holds a connection.
func busyLane(state string) bool {
	switch state {
	case models.StateReading, models.StateSending, models.StateBlocked, models.StateKeepAlive:
		return true
	}
	return false
}

// modelResult is what one model's run measured: the summary event's data.
type modelResult struct {
	Model string `json:"model"`
	// Variant is the variant's name, in a Compare over variants.
	Variant string           `json:"variant,omitempty"`
	Summary *loadgen.Summary `json:"summary"`
	// RSSKB is the worker processes' resident memory, summed, sampled near
	// the end of the load.
	RSSKB int `json:"rss_kb"`
	// Sentence says what happened, from the numbers below.
	Sentence string `json:"sentence"`
	// Workers is the most worker processes alive at once during the load;
	// Lanes the threads (or 1) of each; BusyPeak the most lanes holding a
	// connection at once.
	Workers  int `json:"workers"`
	Lanes    int `json:"lanes"`
	BusyPeak int `json:"busy_peak"`
	// QueuePeak is the deepest the accept queue got.
	QueuePeak int `json:"queue_peak"`
	// Pinning is keep-alive pinning, if a stats tick saw it (nil if not).
	Pinning *pinning `json:"pinning,omitempty"`
	// LoopUtil is the reactor loops' busy fraction over the load (-1 for the
	// other models); LagP99MS the 99th percentile of loop lag.
	LoopUtil float64 `json:"loop_util"`
	LagP99MS float64 `json:"lag_p99_ms"`
	// WaitP50MS and ServiceP50MS are the requests' server-side phases:
	// from their delivery to the worker's guest until the handler ran, and
	// from then until it returned (-1: not measured).
	WaitP50MS    float64 `json:"wait_p50_ms"`
	ServiceP50MS float64 `json:"service_p50_ms"`
	// LongestHold is the longest time one request held a loop while
	// nothing else could run in it (reactor only).
	LongestHold *holdInfo `json:"longest_hold,omitempty"`
	// Deaths counts worker processes that died during the load (Kills of
	// them killed by the supervisor, e.g. a runaway request); DeathCause
	// is the first cause.
	Deaths     int    `json:"deaths"`
	Kills      int    `json:"kills"`
	DeathCause string `json:"death_cause,omitempty"`
	// Pool is what the worker processes' thread pools did (nil if no
	// request used one).
	Pool *poolResult `json:"pool,omitempty"`
	// Groups are each load group's results, in the load's order (a load
	// with groups only).
	Groups []groupResult `json:"groups,omitempty"`
	// Error is set when the model could not be run.
	Error string `json:"error,omitempty"`
}

// poolResult is what the thread pools did during a load: their threads
// (per process), the tasks that ran, their wait in the pool's queue, the
// deepest the queue got, and the tasks refused because it was full.
type poolResult struct {
	Threads   int     `json:"threads"`
	Tasks     int     `json:"tasks"`
	WaitP50MS float64 `json:"wait_p50_ms"`
	WaitP99MS float64 `json:"wait_p99_ms"`
	QueuePeak int     `json:"queue_peak"`
	Overflows int     `json:"overflows"`
}

// newPoolResult summarises a poolTally (nil if no task came).
func newPoolResult(p *poolTally) *poolResult {
	if len(p.waits) == 0 && p.overflows == 0 {
		return nil
	}
	r := &poolResult{Tasks: len(p.waits), QueuePeak: p.queuePeak, Overflows: p.overflows}
	for _, n := range p.threads {
		r.Threads = max(r.Threads, n)
	}
	waits := slices.Sorted(slices.Values(p.waits))
	r.WaitP50MS = round2(ms(time.Duration(experiment.Percentile(waits, 0.50))))
	r.WaitP99MS = round2(ms(time.Duration(experiment.Percentile(waits, 0.99))))
	return r
}

// phrase says what the pool did: "the thread pool (4 threads a process)
// ran 16 tasks, up to 3 waiting in its queue (p99 210 ms); 2 refused: its
// queue was full".
func (p *poolResult) phrase() string {
	s := "the thread pool"
	if p.Threads > 0 {
		s += fmt.Sprintf(" (%s a process)", plural(p.Threads, "thread", "threads"))
	}
	s += " ran " + plural(p.Tasks, "task", "tasks")
	if p.QueuePeak > 0 {
		s += fmt.Sprintf(", up to %d waiting in its queue (p99 %s)", p.QueuePeak, fmtMS(p.WaitP99MS))
	} else {
		s += ", none waiting for a thread"
	}
	if p.Overflows > 0 {
		s += fmt.Sprintf("; %s refused: its queue was full", plural(p.Overflows, "task", "tasks"))
	}
	return s
}

// name is what sentences call the result's run: its variant's name
// ("reactor + pool"), or its model's.
func (r *modelResult) name() string {
	if r.Variant != "" {
		return r.Variant
	}
	return r.Model
}

// holdCallout is the shortest hold of a loop the summary names (the live
// view marks the same ones).
const holdCallout = 50 // ms

// pinning is what the stats ticks saw of keep-alive pinning under the
// process and thread models: every lane held by a keep-alive connection,
// up to Idle of them idle waiting for their client's next request, while up
// to Queue connections waited in the accept queue for one to close.
type pinning struct {
	Lanes int `json:"lanes"`
	Idle  int `json:"idle"`
	Queue int `json:"queue"`
}

// observePinning records one stats tick's lanes (their states) and the
// accept queue's depth, if they show keep-alive pinning.
func (r *modelResult) observePinning(states []string, queue int) {
	idle := 0
	for _, st := range states {
		if !busyLane(st) {
			return // a free lane: whoever waits is about to be served
		}
		if st == models.StateKeepAlive {
			idle++
		}
	}
	if queue == 0 || len(states) == 0 {
		return
	}
	if r.Pinning == nil {
		r.Pinning = &pinning{}
	}
	r.Pinning.Lanes = max(r.Pinning.Lanes, len(states))
	r.Pinning.Idle = max(r.Pinning.Idle, idle)
	r.Pinning.Queue = max(r.Pinning.Queue, queue)
}

// sentence says in one sentence what happened under r's model, from its
// measured numbers; prev is the model run before it in a Compare (or nil),
// whose p99 it is compared with.
func sentence(r *modelResult, prev *modelResult) string {
	var parts []string
	switch models.Model(r.Model) {
	case models.Process:
		parts = append(parts, fmt.Sprintf("%s served one connection each (%s)",
			plural(r.Workers, "process", "processes"), busyPhrase(r.BusyPeak, r.Workers*r.Lanes)))
	case models.Thread:
		parts = append(parts, fmt.Sprintf("%s in %s served one connection each (%s)",
			plural(r.Workers*r.Lanes, "thread", "threads"), plural(r.Workers, "process", "processes"), busyPhrase(r.BusyPeak, r.Workers*r.Lanes)))
	case models.EventMPM:
		parts = append(parts, fmt.Sprintf("%s in %s served one request each, their listeners holding the idle connections (%s)",
			plural(r.Workers*r.Lanes, "thread", "threads"), plural(r.Workers, "process", "processes"), busyPhrase(r.BusyPeak, r.Workers*r.Lanes)))
	case models.Reactor:
		loop := "the loop was"
		if r.Workers > 1 {
			loop = fmt.Sprintf("the %d loops were", r.Workers)
		}
		if r.LoopUtil >= 0 {
			parts = append(parts, fmt.Sprintf("%s busy %.0f%% of the time (loop lag p99 %s)", loop, 100*r.LoopUtil, fmtMS(r.LagP99MS)))
			if h := r.LongestHold; h != nil && h.MS >= holdCallout {
				held := fmt.Sprintf("it was held %s", h)
				if r.WaitP50MS > r.ServiceP50MS && r.ServiceP50MS > 0 {
					held += fmt.Sprintf(", so requests waited p50 %s for it and ran %s", fmtMS(r.WaitP50MS), fmtMS(r.ServiceP50MS))
				}
				parts = append(parts, held)
			}
		} else if r.Summary != nil && r.Summary.Duration >= 2*traceInterval {
			// The guest samples its lag every few ms while the loop turns:
			// no sample in the whole load means the loop never turned.
			parts = append(parts, fmt.Sprintf("%s held for the whole %s load: it sent no lag sample", loop, fmtMS(ms(r.Summary.Duration))))
		} else {
			parts = append(parts, fmt.Sprintf("%s not sampled: the load ended within the first 100 ms lag window", strings.Replace(loop, " was", "'s busy time was", 1)))
		}
	}
	if r.Pool != nil {
		parts = append(parts, r.Pool.phrase())
	}
	if r.QueuePeak > 0 {
		parts = append(parts, fmt.Sprintf("%s waited in the accept queue (peak)", plural(r.QueuePeak, "connection", "connections")))
	} else if models.Model(r.Model) != models.Reactor {
		parts = append(parts, "no connection waited in the accept queue")
	}
	if r.Deaths > 0 {
		times := "once"
		if r.Deaths > 1 {
			times = fmt.Sprintf("%d times", r.Deaths)
		}
		var what string
		switch models.Model(r.Model) {
		case models.Thread, models.EventMPM:
			what = fmt.Sprintf("a process died %s, each time taking its %d threads with it", times, r.Lanes)
		case models.Reactor:
			what = fmt.Sprintf("a loop died %s, each time dropping every connection it held", times)
		default:
			what = fmt.Sprintf("a process died %s, each time taking only its own connection", times)
		}
		if r.Kills > 0 {
			what += fmt.Sprintf(" (%d killed by the supervisor)", r.Kills)
		}
		if r.DeathCause != "" {
			what += ": " + firstLine(r.DeathCause)
		}
		parts = append(parts, what)
	}
	if s := r.Summary; s != nil {
		if failed := s.Requests - s.Succeeded; failed > 0 {
			what := fmt.Sprintf("%d of %d requests failed (%s)", failed, s.Requests, failureKinds(s))
			if r.Pinning != nil && s.ErrorKinds["timeout"] > 0 {
				what += ", from " + r.pinningPhrase()
			}
			parts = append(parts, what)
		}
		if s.Requests > s.Errors { // some got a response: latency is known
			parts = append(parts, p99Phrase(r, prev))
		}
	}
	if len(parts) == 0 {
		return "nothing was measured"
	}
	return strings.Join(parts, "; ")
}

// pinningPhrase names keep-alive pinning as the cause of timeouts.
func (r *modelResult) pinningPhrase() string {
	p := r.Pinning
	what := plural(p.Lanes, "thread", "threads")
	if models.Model(r.Model) == models.Process {
		what = plural(p.Lanes, "process", "processes")
	}
	if p.Lanes > 1 {
		what = "all " + what
	}
	idle := ""
	if p.Idle > 0 {
		idle = fmt.Sprintf(" (up to %d idle, waiting for their client's next request)", p.Idle)
	}
	return fmt.Sprintf("keep-alive pinning: %s held by keep-alive connections%s while up to %s waited in the accept queue for one to close",
		what, idle, plural(p.Queue, "connection", "connections"))
}

// p99Tail is the share of requests a p99 leaves out. When more requests
// than that failed, the failures are the model's tail, not the p99: a
// timeout has no latency in the percentiles, a fast 502 lowers them.
const p99Tail = 0.01

func failedShare(s *loadgen.Summary) float64 {
	if s == nil || s.Requests == 0 {
		return 0
	}
	return float64(s.Requests-s.Succeeded) / float64(s.Requests)
}

// p99Phrase gives r's p99 and how it compares with prev's, saying when
// failures make the comparison meaningless.
func p99Phrase(r, prev *modelResult) string {
	s := r.Summary
	p := "p99 " + fmtMS(ms(s.Latency.P99))
	share := failedShare(s)
	hasPrev := prev != nil && prev.Summary != nil && prev.Summary.Requests > 0 && prev.Summary.Latency.P99 > 0
	if share > p99Tail {
		why := fmt.Sprintf("%s of requests failed, more than the 1%% a p99 leaves out, so the failures, not the p99, are this model's tail", fmtShare(share))
		if hasPrev {
			return fmt.Sprintf("%s, not compared with the %s model's: %s", p, prev.name(), why)
		}
		return p + ", but " + why
	}
	if failed := s.Requests - s.Succeeded; failed > 0 {
		p += fmt.Sprintf(" (%s, within the 1%% a p99 leaves out)", plural(failed, "failure", "failures"))
	}
	if !hasPrev {
		return p
	}
	if ps := failedShare(prev.Summary); ps > p99Tail {
		return fmt.Sprintf("%s, not compared with the %s model's, whose failures (%s of its requests) are more than the 1%% a p99 leaves out", p, prev.name(), fmtShare(ps))
	}
	return p + ", " + ratioPhrase(float64(s.Latency.P99)/float64(prev.Summary.Latency.P99), prev.name())
}

// fmtShare prints a fraction as a percentage: "3%", "0.5%", "12%".
func fmtShare(f float64) string {
	pct := 100 * f
	if pct >= 10 || pct == math.Trunc(pct) {
		return fmt.Sprintf("%.0f%%", pct)
	}
	return fmt.Sprintf("%.1f%%", pct)
}

func busyPhrase(busy, lanes int) string {
	if lanes > 0 && busy >= lanes {
		switch lanes {
		case 1:
			return "busy at the peak"
		case 2:
			return "both busy at the peak"
		}
		return fmt.Sprintf("all %d busy at the peak", lanes)
	}
	return fmt.Sprintf("%d busy at the peak", busy)
}

// ratioPhrase compares a p99 with another model's.
func ratioPhrase(r float64, other string) string {
	switch {
	case r >= 1.5:
		return fmt.Sprintf("%s× the %s model's", fmtRatio(r), other)
	case r <= 1/1.5:
		return fmt.Sprintf("%s× lower than the %s model's", fmtRatio(1/r), other)
	}
	return fmt.Sprintf("about the %s model's", other)
}

func fmtRatio(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// failureKinds lists what the failed requests got, the three most common
// kinds and how many others: "502 ×10, timeout ×2", "504 ×2, EOF ×2, 502 ×1
// and 1 other".
func failureKinds(s *loadgen.Summary) string {
	type kind struct {
		name string
		n    int
	}
	var ks []kind
	for code, n := range s.StatusCodes {
		if code < 200 || code >= 400 {
			ks = append(ks, kind{fmt.Sprint(code), n})
		}
	}
	for name, n := range s.ErrorKinds {
		ks = append(ks, kind{name, n})
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].n > ks[j].n || ks[i].n == ks[j].n && ks[i].name < ks[j].name })
	var out []string
	others := 0
	for i, k := range ks {
		if i >= 3 {
			others += k.n
			continue
		}
		out = append(out, fmt.Sprintf("%s ×%d", k.name, k.n))
	}
	list := strings.Join(out, ", ")
	if others > 0 {
		list += " and " + plural(others, "other", "others")
	}
	return list
}

func fmtMS(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.1f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f s", v/1000)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
