package playground

import (
	"cmp"
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
	"github.com/mpmlab/mpmlab/wasm/stream"
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
	phases []phaseSample // the responses that reported their phases (capped)
}

// phaseSample is one response's client-side latency and the server-side
// phases it reported (models.PhasesHeader), in ns, and its load group
// (loadgen.Result.Group).
type phaseSample struct {
	latency, wait, service int64
	group                  int
}

// queue is the request's time outside the server's phases: before its
// worker had it (the accept queue, on loopback), and reading and writing
// it.
func (p phaseSample) queue() int64 { return max(0, p.latency-p.wait-p.service) }

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
	// A failed request keeps its latency (the time until it failed: a
	// reset connection, a 502), or a window of failures would read 0 ms.
	w.window = append(w.window, r.Latency)
}

// newLiveStats tallies a load of the named groups.
func newLiveStats(groups []string) *liveStats {
	return &liveStats{hist: make([]int, len(histBounds)+1), groups: make([]tallyWindow, len(groups)), names: groups}
}

func (l *liveStats) add(r loadgen.Result) {
	msv := ms(r.Latency)
	b := sort.SearchFloat64s(histBounds, msv)
	var ph models.RequestPhases
	phased := false
	if r.Err == nil && r.Header != nil {
		if v := r.Header.Get(models.PhasesHeader); v != "" {
			ph, phased = models.ParsePhases(v)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if phased && len(l.phases) < maxPhaseSamples {
		l.phases = append(l.phases, phaseSample{int64(r.Latency), int64(ph.Wait), int64(ph.Service), r.Group})
	}
	l.all.add(&r)
	if r.Group >= 0 && r.Group < len(l.groups) {
		l.groups[r.Group].add(&r)
	}
	if r.Err == nil {
		l.hist[b]++
	}
}

// holdText says h as the live view and the sentence do:
// "212 ms by GET /?ms=200 at main.go:22".
func holdText(h *stream.Hold) string {
	s := fmtMS(h.MS) + " by " + strings.TrimSpace(h.Method+" "+h.Path)
	if h.Where != "" {
		s += " at " + h.Where
	}
	return s
}

// minStatsWindow is the shortest window a stats event's rate and
// percentiles are taken over. The load ends between two ticks: its last
// window, often a few milliseconds long, joins the one before it, else a
// handful of results in 1 ms would read as thousands of requests a second.
const minStatsWindow = statsInterval / 2

// snapshot returns the stats of the window since the last snapshot (of
// length win; joined to the previous one when shorter than minStatsWindow)
// and the cumulative counts, and how many results the window had.
func (l *liveStats) snapshot(win time.Duration) (stream.Stats, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat, n, fresh, w := l.all.take(win)
	ev := stream.Stats{OK: l.all.ok, Errors: l.all.errors, Histogram: make([]stream.Bucket, len(l.hist))}
	for i, c := range l.hist {
		le := -1.0
		if i < len(histBounds) {
			le = histBounds[i]
		}
		ev.Histogram[i] = stream.Bucket{LeMS: le, Count: c}
	}
	if w > 0 {
		ev.RPS = round2(float64(n) / w.Seconds())
	}
	ev.P50MS, ev.P90MS, ev.P99MS = round2(ms(experiment.Percentile(lat, 0.50))), round2(ms(experiment.Percentile(lat, 0.90))), round2(ms(experiment.Percentile(lat, 0.99)))
	for i := range l.groups {
		g := &l.groups[i]
		lat, n, _, w := g.take(win)
		gs := stream.GroupStats{Name: l.names[i], OK: g.ok, Errors: g.errors,
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

// medianBand is how far from the p50 a request's latency may be for its
// parts to be averaged into the median request's (LatencyParts).
const medianBand = 0.05

// latencyParts returns the median of the requests' queue times (-1 if
// none reported its phases) and where the median requests' latency went:
// the requests whose latency is within medianBand of p50 (the load's), or
// failing any, the nearest in rank to the median.
func (l *liveStats) latencyParts(p50 time.Duration) (queueP50 float64, parts *stream.LatencyParts) {
	return l.partsOf(p50, allGroups)
}

// groupIndex is the index of the load group named name in the results
// (loadgen.Result.Group); ok is false if there is none of that name.
func (l *liveStats) groupIndex(name string) (i int, ok bool) {
	i = slices.Index(l.names, name)
	return i, i >= 0
}

// allGroups selects every sample in partsOf.
const allGroups = -1

// partsOf is latencyParts for the samples of one load group (allGroups:
// every sample), around that group's p50.
func (l *liveStats) partsOf(p50 time.Duration, group int) (queueP50 float64, parts *stream.LatencyParts) {
	l.mu.Lock()
	samples := slices.Clone(l.phases)
	l.mu.Unlock()
	if group != allGroups {
		samples = slices.DeleteFunc(samples, func(p phaseSample) bool { return p.group != group })
	}
	if len(samples) == 0 {
		return -1, nil
	}
	queues := make([]int64, len(samples))
	for i, p := range samples {
		queues[i] = p.queue()
	}
	slices.Sort(queues)
	queueP50 = percentileMS(queues, 0.50)

	var band []phaseSample
	lo, hi := float64(p50)*(1-medianBand), float64(p50)*(1+medianBand)
	for _, p := range samples {
		if float64(p.latency) >= lo && float64(p.latency) <= hi {
			band = append(band, p)
		}
	}
	if len(band) == 0 { // no response near the load's p50 reported phases
		slices.SortFunc(samples, func(a, b phaseSample) int { return cmp.Compare(a.latency, b.latency) })
		band = samples[(len(samples)-1)/2 : (len(samples)-1)/2+1]
	}
	var sum phaseSample
	var sumQueue int64
	for _, p := range band {
		sum.latency += p.latency
		sum.wait += p.wait
		sum.service += p.service
		sumQueue += p.queue()
	}
	mean := func(v int64) float64 { return round2(ms(time.Duration(v / int64(len(band))))) }
	return queueP50, &stream.LatencyParts{Requests: len(band), LatencyMS: mean(sum.latency),
		QueueMS: mean(sumQueue), WaitMS: mean(sum.wait), ServiceMS: mean(sum.service)}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// percentileMS is the q-quantile of sorted durations in nanoseconds
// (experiment.Percentile), in milliseconds to two places.
func percentileMS(sorted []int64, q float64) float64 {
	return round2(ms(time.Duration(experiment.Percentile(sorted, q))))
}

// busyLane reports whether a lane state holds a connection.
func busyLane(state string) bool {
	switch state {
	case stream.StateReading, stream.StateSending, stream.StateBlocked, stream.StateKeepAlive:
		return true
	}
	return false
}

// newPoolResult summarises a poolTally (nil if no task came).
func newPoolResult(p *poolTally) *stream.PoolResult {
	if len(p.waits) == 0 && p.overflows == 0 {
		return nil
	}
	r := &stream.PoolResult{Tasks: len(p.waits), QueuePeak: p.queuePeak, Overflows: p.overflows}
	for _, n := range p.threads {
		r.Threads = max(r.Threads, n)
	}
	waits := slices.Sorted(slices.Values(p.waits))
	r.WaitP50MS, r.WaitP99MS = percentileMS(waits, 0.50), percentileMS(waits, 0.99)
	return r
}

// poolPhrase says what the pool did: "the thread pool (4 threads a process)
// ran 16 tasks, up to 3 waiting in its queue (p99 210 ms); 2 refused: its
// queue was full".
func poolPhrase(p *stream.PoolResult) string {
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

// runName is what sentences call the result's run: its variant's name
// ("reactor + pool"), or its model's.
func runName(r *stream.Result) string {
	if r.Variant != "" {
		return r.Variant
	}
	return r.Model
}

// holdCallout is the shortest hold of a loop the summary names (the live
// view marks the same ones).
const holdCallout = 50 // ms

// observePinning records one stats tick's lanes (their states) and the
// accept queue's depth, if they show keep-alive pinning.
func observePinning(r *stream.Result, states []string, queue int) {
	idle := 0
	for _, st := range states {
		if !busyLane(st) {
			return // a free lane: whoever waits is about to be served
		}
		if st == stream.StateKeepAlive {
			idle++
		}
	}
	if queue == 0 || len(states) == 0 {
		return
	}
	if r.Pinning == nil {
		r.Pinning = &stream.Pinning{}
	}
	r.Pinning.Lanes = max(r.Pinning.Lanes, len(states))
	r.Pinning.Idle = max(r.Pinning.Idle, idle)
	r.Pinning.Queue = max(r.Pinning.Queue, queue)
}

// sentence says in one sentence what happened under r's model, from its
// measured numbers; prev is the model run before it in a Compare (or nil),
// whose p99 it is compared with.
func sentence(r *stream.Result, prev *stream.Result) string {
	var parts []string
	policy, err := models.PolicyOf(models.Model(r.Model))
	if err != nil {
		return err.Error()
	}
	lanes := plural(r.Workers, "process", "processes")
	if policy.Threads() {
		lanes = plural(r.Workers*r.Lanes, "thread", "threads") + " in " + lanes
	}
	switch {
	case !policy.Loop() && policy.PinsLane():
		parts = append(parts, fmt.Sprintf("%s served one connection each (%s)", lanes, busyPhrase(r.BusyPeak, r.Workers*r.Lanes)))
	case !policy.Loop():
		// A lane that serves a request, not a connection: a listener
		// holds the idle ones (Apache event), when there are any.
		what := fmt.Sprintf("%s served one request each (%s)", lanes, busyPhrase(r.BusyPeak, r.Workers*r.Lanes))
		switch {
		case r.KeptAlive > 0:
			what += fmt.Sprintf(", their listeners holding the connections kept alive between requests (%s came on one)", plural(r.KeptAlive, "request", "requests"))
		case r.KeepAlive:
			// Held idle, and closed before a next request was served on
			// one (the listener closes them when no thread is idle).
			what += ", their listeners holding the idle kept-alive connections, but no request came on one"
		}
		parts = append(parts, what)
	default:
		loop := "the loop was"
		if r.Workers > 1 {
			loop = fmt.Sprintf("the %d loops were", r.Workers)
		}
		if r.LoopUtil >= 0 {
			parts = append(parts, fmt.Sprintf("%s busy %.0f%% of the time (loop lag p99 %s over the whole load)", loop, 100*r.LoopUtil, fmtMS(r.LagP99MS)))
			if h := r.LongestHold; h != nil && h.MS >= holdCallout {
				held := "it was held " + holdText(h)
				if r.P50Parts == nil && r.WaitP50MS > r.ServiceP50MS && r.ServiceP50MS > 0 {
					held += fmt.Sprintf(", so requests waited p50 %s for it and ran %s", fmtMS(r.WaitP50MS), fmtMS(r.ServiceP50MS))
				}
				parts = append(parts, held)
			}
		} else if r.Summary != nil && r.Summary.Duration >= 2*traceInterval {
			// The guest samples its lag every few ms while the loop turns:
			// no sample in the whole load means the loop never turned for
			// a whole window, held or dead.
			switch {
			case r.Deaths == 0:
				parts = append(parts, fmt.Sprintf("%s held for the whole %s load: it sent no lag sample", loop, fmtMS(ms(r.Summary.Duration))))
			case r.Kills == r.Deaths:
				parts = append(parts, fmt.Sprintf("%s held until the supervisor killed it: it sent no lag sample", loop))
			default:
				parts = append(parts, fmt.Sprintf("%s never alive and turning for a whole 100 ms lag window: it sent no lag sample, dying %s", loop, timesPhrase(r.Deaths)))
			}
		} else {
			parts = append(parts, fmt.Sprintf("%s not sampled: the load ended within the first 100 ms lag window", strings.Replace(loop, " was", "'s busy time was", 1)))
		}
	}
	if r.Pool != nil {
		parts = append(parts, poolPhrase(r.Pool))
	}
	if r.QueuePeak > 0 {
		parts = append(parts, fmt.Sprintf("%s waited in the accept queue (peak)", plural(r.QueuePeak, "connection", "connections")))
	} else if !policy.Loop() {
		parts = append(parts, "no connection waited in the accept queue")
	}
	if r.Deaths > 0 {
		times := timesPhrase(r.Deaths)
		if r.Deaths > 1 {
			times += ", each time"
		}
		var what string
		switch {
		case policy.Threads():
			what = fmt.Sprintf("a process died %s taking its %d threads with it", times, r.Lanes)
		case policy.Loop():
			what = fmt.Sprintf("a loop died %s dropping every connection it held", times)
		default:
			what = fmt.Sprintf("a process died %s taking only its own connection", times)
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
			what += deathFailedPhrase(r.Deaths, r.DeathFailed, failed)
			if r.Pinning != nil && policy.PinsLane() && s.ErrorKinds["timeout"] > 0 { // the policy says whether a connection pins its lane
				what += ", from " + pinningPhrase(r)
			}
			parts = append(parts, what)
		}
		if s.Requests > s.Errors { // some got a response: latency is known
			if p := partsPhrase(r, policy.Loop()); p != "" {
				parts = append(parts, p)
			}
			parts = append(parts, p99Phrase(r, prev))
		}
	}
	if len(parts) == 0 {
		return "nothing was measured"
	}
	return strings.Join(parts, "; ")
}

// timesPhrase says how many times: "once", "6 times".
func timesPhrase(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// deathFailedPhrase says how many of the failed requests the deaths took:
// ", all 10 in flight in a worker that died", ", 8 of them in flight in a
// worker that died" ("" when no worker died).
func deathFailedPhrase(deaths, deathFailed, failed int) string {
	switch {
	case deaths == 0:
		return ""
	case deathFailed == 0:
		return ", none of them in a worker that died"
	case deathFailed >= failed && failed == 1:
		return ", in flight in a worker that died"
	case deathFailed >= failed && failed == 2:
		return ", both in flight in a worker that died"
	case deathFailed >= failed:
		return fmt.Sprintf(", all %d in flight in a worker that died", failed)
	}
	return fmt.Sprintf(", %d of them in flight in a worker that died", deathFailed)
}

// partsFit is how far the median requests' mean latency may be from the
// p50 for the sentence to give their parts as the p50's.
const partsFit = 0.10

// partsPhrase says where the median request's latency went: "p50 776 ms
// ≈ 570 ms in the accept queue and I/O + 152 ms waiting for the loop + 51
// ms in the handler" ("" if no response reported its phases).
func partsPhrase(r *stream.Result, loop bool) string {
	return splitPhrase(r.P50Parts, r.Summary, loop)
}

// splitPhrase is partsPhrase for the parts p of the requests s sums up
// (a run's, or a load group's).
func splitPhrase(p *stream.LatencyParts, s *stream.LoadSummary, loop bool) string {
	if p == nil || s == nil {
		return ""
	}
	waiting := "waiting in the worker"
	if loop {
		waiting = "waiting for the loop"
	}
	split := fmt.Sprintf("%s in the accept queue and I/O + %s %s + %s in the handler", fmtMS(p.QueueMS), fmtMS(p.WaitMS), waiting, fmtMS(p.ServiceMS))
	p50 := ms(s.Latency.P50)
	if p50 > 0 && math.Abs(p.LatencyMS-p50) <= partsFit*p50 {
		return fmt.Sprintf("p50 %s ≈ %s", fmtMS(p50), split)
	}
	// Failures made the p50 (a fast 502 has no phases), or no response
	// near it reported its phases: the parts are those of the median
	// request that did.
	return fmt.Sprintf("p50 %s, and the median request that reported its phases took %s = %s", fmtMS(p50), fmtMS(p.LatencyMS), split)
}

// pinningPhrase names keep-alive pinning as the cause of timeouts.
func pinningPhrase(r *stream.Result) string {
	p := r.Pinning
	what := plural(p.Lanes, "process", "processes")
	if policy, _ := models.PolicyOf(models.Model(r.Model)); policy != nil && policy.Threads() {
		what = plural(p.Lanes, "thread", "threads")
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
func p99Phrase(r, prev *stream.Result) string {
	s := r.Summary
	p := "p99 " + fmtMS(ms(s.Latency.P99))
	share := failedShare(s)
	hasPrev := prev != nil && prev.Summary != nil && prev.Summary.Requests > 0 && prev.Summary.Latency.P99 > 0
	if share > p99Tail {
		why := fmt.Sprintf("%s of requests failed, more than the 1%% a p99 leaves out, so the failures, not the p99, are this model's tail", fmtShare(share))
		if hasPrev {
			return fmt.Sprintf("%s, not compared with the %s model's: %s", p, runName(prev), why)
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
		return fmt.Sprintf("%s, not compared with the %s model's, whose failures (%s of its requests) are more than the 1%% a p99 leaves out", p, runName(prev), fmtShare(ps))
	}
	return p + ", " + ratioPhrase(float64(s.Latency.P99)/float64(prev.Summary.Latency.P99), runName(prev))
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
