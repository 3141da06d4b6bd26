package playground

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of the event stream.
const (
	// traceInterval is how often trace events are batched to the browser.
	traceInterval = 100 * time.Millisecond
	// maxReqEvents caps the per-request events (conn, req_start, req_end)
	// of one trace batch; the rest are sampled away and counted in dropped.
	// The later events of a request whose start was sent are sent past the
	// cap, as their request is in flight (maxShown of them at most).
	maxReqEvents = 500
	maxShown     = 100000
	// maxStateEvents caps the lane-state events of one batch; past it only
	// the last state of each lane is kept.
	maxStateEvents = 500
	// maxLogEvents caps the guest's log lines in one batch.
	maxLogEvents = 50
	// maxPending caps the events held for one batch (memory, at any rate).
	maxPending = 20000
	// maxQueuedBytes caps what waits for a slow browser; past it trace
	// batches are dropped (and counted) rather than held.
	maxQueuedBytes = 16 << 20
	// maxPhaseSamples caps the requests whose wait and service a run keeps
	// for its summary.
	maxPhaseSamples = 100000
	// pingInterval keeps an idle stream open through proxies.
	pingInterval = 15 * time.Second
)

// message is one server-sent event: its name and JSON data.
type message struct {
	event string
	data  []byte
}

// outbox queues a run's messages for its event stream. Sending never
// blocks: the runner must not wait for a browser.
type outbox struct {
	mu      sync.Mutex
	queue   []message
	bytes   int
	dropped int // trace batches dropped because the browser did not keep up
	closed  bool
	notify  chan struct{} // a message was queued, or the outbox closed
}

func newOutbox() *outbox { return &outbox{notify: make(chan struct{}, 1)} }

// send queues event with v as its JSON data.
func (o *outbox) send(event string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	o.mu.Lock()
	if o.closed || (event == stream.MsgTrace && o.bytes > maxQueuedBytes) {
		if !o.closed {
			o.dropped++
		}
		o.mu.Unlock()
		return
	}
	o.queue = append(o.queue, message{event, data})
	o.bytes += len(data)
	o.mu.Unlock()
	o.wake()
}

// close marks the end of the stream: nothing is queued after it.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) wake() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// take returns the queued messages, and whether the stream has ended (no
// more will come).
func (o *outbox) take() ([]message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queue
	o.queue, o.bytes = nil, 0
	return q, o.closed
}

// Why a run stops early.
var (
	errStopped  = errors.New("stopped by the user")
	errGone     = errors.New("stopped: the page went away (its event stream closed)")
	errNoStream = fmt.Errorf("stopped: no one connected to the event stream within %v", attachTimeout)
	errShutdown = errors.New("stopped: the server is shutting down")
)

// handleEvents streams a run's events (text/event-stream) until its done
// event. Only one stream per run: the browser tab that created it. When the
// stream's connection closes before the end, the run stops and its workers
// are reaped.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	run := s.runs.get(r.PathValue("id"))
	if run == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no run %q (it ended, or never existed)", r.PathValue("id")))
		return
	}
	if !run.attached.CompareAndSwap(false, true) {
		writeError(w, http.StatusConflict, fmt.Sprintf("run %s already has an event stream (or it was abandoned)", run.id))
		return
	}
	defer s.runs.forget(run)
	flusher, ok := w.(http.Flusher)
	if !ok {
		run.stop(errGone)
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		msgs, closed := run.out.take()
		for _, m := range msgs {
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data); err != nil {
				run.stop(errGone)
				return
			}
			flusher.Flush()
		}
		if closed {
			return
		}
		select {
		case <-run.out.notify:
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				run.stop(errGone)
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			run.stop(errGone)
			return
		}
	}
}

// tracer receives a model's events from the supervisor (Config.OnEvent),
// batches them for the browser at most once every traceInterval, and
// keeps the aggregates the stats and the summary's sentence need.
//
// # Notes
//
//   - onEvent runs on the supervisor's event goroutine, sometimes with the
//     supervisor's lock held: it only appends under t.mu and must never call
//     the Supervisor.
//   - Per-request events are sampled by a hash of their request (or
//     connection) id; once a request's start is sent, its later events are
//     too (shown), so no bar is left without its end. A req_end whose
//     start was left out may be sent: it carries the duration, so it draws
//     a span on its own.
//   - Batches are throttled on the leading edge: an event that comes after
//     a quiet traceInterval is sent at once, and the events that follow it
//     wait for the interval to pass. The model's first answered request
//     is sent at once whatever the interval: it is what a person who
//     clicked Run waits to see.
type tracer struct {
	out *outbox
	// pending is signalled when an event arrives to an empty batch, and
	// first by the model's first req_end.
	pending, first chan struct{}
	answered       bool          // a req_end has come (under mu)
	interval       time.Duration // traceInterval; a test's own
	// shown are the requests (pid, req) whose req_start a batch sent and
	// whose req_end none has yet; only flush uses it.
	shown map[[2]uint64]bool

	mu      sync.Mutex
	reqs    []stream.Event
	states  []stream.Event
	other   []stream.Event
	logs    int
	dropped int

	// Aggregates.
	loading    bool // counting deaths (the load is running)
	queue      int
	queuePeak  int
	lagWindow  []int64         // lag samples since the last stats tick
	lagAll     []int64         // every lag sample of the load (capped)
	busy       models.LoopBusy // the loops' busy share over the load
	winBusy    models.LoopBusy // the same since the last stats tick
	deaths     map[int]bool    // pids that exited during the load
	kills      int
	deathCause string
	// The server-side phases of the load's requests (req_end, before
	// sampling): waits and services (capped), and the longest hold.
	waits, services []int64
	hold            stream.Event            // the req_end with the longest Hold
	groups          map[string]*groupPhases // the same for each load group
	pool            poolTally               // the worker processes' thread pools
	conns           map[int]stream.Event    // process → its loop's latest conns event
	// Requests between their req_start and req_end (by pid and request
	// id), and the most at once during the load.
	inflight     map[reqKey]bool
	inflightPeak int
	// Connections that carried a request (capped), and the requests
	// that came on one after an earlier request: kept alive.
	connSeen  map[reqKey]bool
	keptAlive int
	// failed counts, by pid and then by group, the requests a worker
	// failed (502 or 504 with a cause): those of a pid that died are the
	// requests its death took.
	failed map[int]map[string]int
}

// reqKey names a request (or a connection) across the worker processes:
// its ids are unique within its process.
type reqKey struct {
	pid int
	id  uint64
}

func newTracer(out *outbox) *tracer {
	return &tracer{out: out, interval: traceInterval, pending: make(chan struct{}, 1), first: make(chan struct{}, 1), shown: map[[2]uint64]bool{}, deaths: map[int]bool{}, conns: map[int]stream.Event{}, groups: map[string]*groupPhases{},
		inflight: map[reqKey]bool{}, connSeen: map[reqKey]bool{}, failed: map[int]map[string]int{}}
}

// poolTally is what the load's pool events said of the thread pools: how
// many threads, the tasks that ran and their waits in the queue (capped),
// the deepest the queue got, and the tasks refused.
type poolTally struct {
	threads   map[int]int // process → its pool's threads
	waits     []int64
	queuePeak int
	overflows int
}

func (p *poolTally) add(e stream.Event) {
	switch e.Kind {
	case stream.EventPool:
		if p.threads == nil {
			p.threads = map[int]int{}
		}
		p.threads[e.Process] = e.PoolThreads
	case stream.EventPoolQueue:
		p.queuePeak = max(p.queuePeak, e.Queued)
	case stream.EventPoolStart:
		if len(p.waits) < maxPhaseSamples {
			p.waits = append(p.waits, e.Wait)
		}
	case stream.EventPoolOverflow:
		p.overflows++
	}
}

// groupPhases are the server-side phases of one load group's requests:
// waits and services (capped), and the req_end with the longest hold.
type groupPhases struct {
	waits, services []int64
	hold            stream.Event
}

func (g *groupPhases) add(e stream.Event) {
	if len(g.waits) < maxPhaseSamples {
		g.waits = append(g.waits, e.Wait)
		g.services = append(g.services, e.Service)
	}
	if e.Hold > g.hold.Hold {
		g.hold = e
	}
}

func (t *tracer) onEvent(e stream.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Kind {
	case stream.EventBeat:
		return
	case stream.EventQueue:
		t.queue = int(e.Value)
		t.queuePeak = max(t.queuePeak, t.queue)
	case stream.EventLag:
		t.lagWindow = append(t.lagWindow, e.Samples...)
		if len(t.lagAll) < 100000 {
			t.lagAll = append(t.lagAll, e.Samples...)
		}
		t.busy.Add(e)
		t.winBusy.Add(e)
	case stream.EventReqStart:
		if t.loading {
			t.inflight[reqKey{e.PID, e.Req}] = true
			t.inflightPeak = max(t.inflightPeak, len(t.inflight))
			if c := (reqKey{e.PID, e.Conn}); t.connSeen[c] {
				t.keptAlive++
			} else if len(t.connSeen) < maxPhaseSamples {
				t.connSeen[c] = true
			}
		}
	case stream.EventReqEnd:
		if !t.answered {
			t.answered = true
			defer func() { t.first <- struct{}{} }() // after the event is in the batch
		}
		delete(t.inflight, reqKey{e.PID, e.Req})
		if t.loading && e.Cause != "" && (e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout) {
			if t.failed[e.PID] == nil {
				t.failed[e.PID] = map[string]int{}
			}
			t.failed[e.PID][e.Group]++
		}
		if t.loading && e.Service > 0 {
			if len(t.waits) < maxPhaseSamples {
				t.waits = append(t.waits, e.Wait)
				t.services = append(t.services, e.Service)
			}
			if e.Hold > t.hold.Hold {
				t.hold = e
			}
			g := t.groups[e.Group]
			if g == nil && len(t.groups) <= experiment.MaxGroups { // the load's groups, and "" for a stray request
				g = &groupPhases{}
				t.groups[e.Group] = g
			}
			if g != nil {
				g.add(e)
			}
		}
	case stream.EventConns:
		t.conns[e.Process] = e
	case stream.EventPoolQueue, stream.EventPoolStart, stream.EventPoolOverflow, stream.EventPool:
		if t.loading {
			t.pool.add(e)
		}
	case stream.EventExit, stream.EventKill:
		if e.Kind == stream.EventExit {
			delete(t.conns, e.Process)
			for k := range t.inflight {
				if k.pid == e.PID {
					delete(t.inflight, k) // its requests ended with it
				}
			}
		}
		if t.loading {
			if e.Kind == stream.EventKill {
				t.kills++
			}
			if e.PID != 0 {
				t.deaths[e.PID] = true
			}
			if t.deathCause == "" && e.Cause != "" {
				t.deathCause = e.Cause
			}
		}
	}
	n := len(t.reqs) + len(t.states) + len(t.other)
	if n >= maxPending {
		t.dropped++
		return
	}
	if n == 0 {
		select {
		case t.pending <- struct{}{}:
		default:
		}
	}
	switch e.Kind {
	case stream.EventConn, stream.EventReqStart, stream.EventReqRun, stream.EventReqEnd:
		t.reqs = append(t.reqs, e)
	case stream.EventState:
		t.states = append(t.states, e)
	case stream.EventLog:
		if t.logs >= maxLogEvents {
			t.dropped++
			return
		}
		t.logs++
		t.other = append(t.other, e)
	default:
		t.other = append(t.other, e)
	}
}

// flush sends the events gathered since the last flush as one batch,
// sampled to the limits above.
func (t *tracer) flush() {
	t.mu.Lock()
	reqs, states, other, dropped := t.reqs, t.states, t.other, t.dropped
	t.reqs, t.states, t.other, t.dropped, t.logs = nil, nil, nil, 0, 0
	t.mu.Unlock()
	if len(reqs)+len(states)+len(other) == 0 && dropped == 0 {
		return
	}
	batch := stream.Trace{Events: other, Dropped: dropped}
	for _, e := range other {
		if e.Kind == stream.EventExit { // its requests end unseen
			for k := range t.shown {
				if k[0] == uint64(e.PID) {
					delete(t.shown, k)
				}
			}
		}
	}
	p := 1.0
	if n := len(reqs); n > maxReqEvents {
		p = float64(maxReqEvents) / float64(n)
	}
	kept := 0
	for _, e := range reqs {
		k := [2]uint64{uint64(e.PID), e.Req}
		switch {
		case e.Kind != stream.EventConn && t.shown[k]:
			// A request whose start was sent keeps every event after
			// it, whatever this batch's sample: a bar without its end
			// would be drawn as running until the run ends.
			batch.Events = append(batch.Events, e)
			if e.Kind == stream.EventReqEnd {
				delete(t.shown, k)
			}
		case e.Kind == stream.EventReqRun:
			batch.Dropped++ // its start was left out: it has no bar to mark
		case kept < maxReqEvents && keepSample(e, p):
			batch.Events = append(batch.Events, e)
			kept++
			if e.Kind == stream.EventReqStart && len(t.shown) < maxShown {
				t.shown[k] = true
			}
		default:
			batch.Dropped++
		}
	}
	if len(states) > maxStateEvents {
		// Keep the last state of each lane, so the lanes end right.
		type lane struct{ p, l int }
		last := map[lane]int{}
		for i, e := range states {
			last[lane{e.Process, e.Lane}] = i
		}
		for i, e := range states {
			if last[lane{e.Process, e.Lane}] == i {
				batch.Events = append(batch.Events, e)
			} else {
				batch.Dropped++
			}
		}
	} else {
		batch.Events = append(batch.Events, states...)
	}
	sort.SliceStable(batch.Events, func(i, j int) bool { return batch.Events[i].T < batch.Events[j].T })
	if batch.Events == nil {
		batch.Events = []stream.Event{}
	}
	t.out.send(stream.MsgTrace, batch)
}

// keepSample decides by a hash of the event's request (or connection) id
// whether it is in a sample of fraction p.
func keepSample(e stream.Event, p float64) bool {
	key := uint64(e.Process)<<48 ^ e.Req
	if e.Kind == stream.EventConn {
		key = uint64(e.Process)<<48 ^ e.Conn ^ 0x9e3779b97f4a7c15
	}
	// splitmix64
	key += 0x9e3779b97f4a7c15
	key = (key ^ key>>30) * 0xbf58476d1ce4e5b9
	key = (key ^ key>>27) * 0x94d049bb133111eb
	key ^= key >> 31
	return float64(key>>11)/(1<<53) < p
}

// run flushes the events as they come, at most once every traceInterval,
// until stop is closed, then once more.
func (t *tracer) run(stop <-chan struct{}) {
	var last time.Time // the last flush
	due := time.NewTimer(t.interval)
	due.Stop()
	for {
		select {
		case <-t.pending:
			if wait := t.interval - time.Since(last); wait > 0 {
				due.Reset(wait)
				continue
			}
		case <-due.C:
		case <-t.first:
			due.Stop()
		case <-stop:
			t.flush()
			return
		}
		t.flush()
		last = time.Now()
	}
}

// loopConns sums the processes' latest connection counts: the loops'
// (reactor) or the listeners' (event MPM); nil if none sent any.
func (t *tracer) loopConns() *stream.Conns {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.conns) == 0 {
		return nil
	}
	c := &stream.Conns{}
	for _, e := range t.conns {
		c.Reading += e.Reading
		c.Writing += e.Writing
		c.Waiting += e.Waiting
	}
	return c
}

// deathFailed counts the requests failed by workers that died during the
// load: all of them, and by group.
func (t *tracer) deathFailed() (all int, byGroup map[string]int) {
	byGroup = map[string]int{}
	for pid := range t.deaths {
		for g, n := range t.failed[pid] {
			all += n
			byGroup[g] += n
		}
	}
	return all, byGroup
}

// setLoading starts or stops counting deaths (only those during the load
// count; Close kills every worker).
func (t *tracer) setLoading(on bool) {
	t.mu.Lock()
	t.loading = on
	t.mu.Unlock()
}

// window returns the loop-lag samples and utilisation since the last call,
// and the accept queue's depth now.
func (t *tracer) window() (lag []int64, util float64, queue int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lag, t.lagWindow = t.lagWindow, nil
	util = t.winBusy.Share()
	t.winBusy.Reset()
	return lag, util, t.queue
}

// result fills in what the tracer saw of a model's load: the accept
// queue's peak, the loops' utilisation and lag, the deaths and what they
// failed, the busy peak, the kept-alive requests, the phases' medians, the
// longest hold of a loop, and the thread pools.
func (t *tracer) result(res *stream.Result, loop bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	res.QueuePeak = t.queuePeak
	if util := t.busy.Share(); util >= 0 {
		res.LoopUtil = round2(util)
	}
	slices.Sort(t.lagAll)
	res.LagP99MS = percentileMS(t.lagAll, 0.99)
	res.Deaths, res.Kills, res.DeathCause = len(t.deaths), t.kills, t.deathCause
	res.DeathFailed, _ = t.deathFailed()
	res.BusyPeak = max(res.BusyPeak, t.inflightPeak)
	res.KeptAlive = t.keptAlive
	res.WaitP50MS, res.ServiceP50MS = -1, -1
	if len(t.waits) > 0 {
		slices.Sort(t.waits)
		slices.Sort(t.services)
		res.WaitP50MS, res.ServiceP50MS = percentileMS(t.waits, 0.50), percentileMS(t.services, 0.50)
	}
	if t.hold.Hold > 0 && loop {
		res.LongestHold = newHoldInfo(t.hold)
	}
	res.Pool = newPoolResult(&t.pool)
}

// groupResults are the load groups' results: the load's summary of each
// (sums) with the phases and deaths the tracer saw of its requests.
func (t *tracer) groupResults(sums []loadgen.GroupSummary, loop bool) []stream.GroupResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	groups := groupResults(sums, t.groups, loop)
	_, failed := t.deathFailed()
	for i := range groups {
		groups[i].DeathFailed = failed[groups[i].Name]
	}
	return groups
}
