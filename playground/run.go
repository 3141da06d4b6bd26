package playground

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of runs.
const (
	// maxRuns caps the experiments running at once, over every tab.
	maxRuns = 2
	// maxRunTime caps the load on each model: a run of one model lasts at
	// most about 60 s plus its build, Compare (four models one after
	// another) about 4 × 60 s plus the build and each model's start and
	// stop.
	maxRunTime = time.Duration(experiment.MaxDurationMS) * time.Millisecond
	// attachTimeout is how long a run waits for its event stream before it
	// is abandoned.
	attachTimeout = 10 * time.Second
	// maxTabLength caps the X-Mpmlab-Tab header.
	maxTabLength = 128
)

// run is one experiment: built, then each model started, loaded and
// stopped in turn, its events queued for the stream of the tab that
// created it.
type run struct {
	id, tab  string
	exp      experiment.Experiment // normalized, validated
	ctx      context.Context
	cancel   context.CancelCauseFunc
	out      *outbox
	attached atomic.Bool // its event stream connected (or it was abandoned)
}

// stop ends the run early; why is reported in its done event.
func (r *run) stop(why error) { r.cancel(why) }

// runRegistry tracks the runs: every run until its stream has ended, and
// the running ones against the per-tab and global caps.
type runRegistry struct {
	mu      sync.Mutex
	runs    map[string]*run // id → run, until its stream ends
	tabs    map[string]*run // tab → its running run
	running int
	closed  bool
	wg      sync.WaitGroup // running runs
}

func newRunRegistry() *runRegistry {
	return &runRegistry{runs: map[string]*run{}, tabs: map[string]*run{}}
}

// errBusy is a run refused by a cap (429).
type errBusy struct{ msg string }

func (e errBusy) Error() string { return e.msg }

// create registers a new running run for tab, or refuses it.
func (g *runRegistry) create(tab string, e experiment.Experiment) (*run, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errShutdown
	}
	if r := g.tabs[tab]; tab != "" && r != nil {
		who := "this tab"
		if addr, ok := strings.CutPrefix(tab, clientTabPrefix); ok {
			who = "this client address (" + addr + ")"
		}
		return nil, errBusy{fmt.Sprintf("%s already has a running experiment (%s): stop it first", who, r.id)}
	}
	if g.running >= maxRuns {
		return nil, errBusy{fmt.Sprintf("%d experiments are already running (the limit is %d): try again when one ends", g.running, maxRuns)}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &run{id: newRunID(), tab: tab, exp: e, ctx: ctx, cancel: cancel, out: newOutbox()}
	g.runs[r.id] = r
	if tab != "" {
		g.tabs[tab] = r
	}
	g.running++
	g.wg.Add(1)
	return r, nil
}

// finish releases a run's place under the caps, once its workers are gone.
func (g *runRegistry) finish(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tabs[r.tab] == r {
		delete(g.tabs, r.tab)
	}
	g.running--
	g.wg.Done()
}

// forget drops a run whose stream has ended (or was never opened).
func (g *runRegistry) forget(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs[r.id] == r {
		delete(g.runs, r.id)
	}
}

func (g *runRegistry) get(id string) *run {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs[id]
}

// closeAll refuses new runs, stops every run and waits for them to end.
func (g *runRegistry) closeAll() {
	g.mu.Lock()
	g.closed = true
	for _, r := range g.runs {
		r.stop(errShutdown)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func newRunID() string {
	var b [10]byte
	rand.Read(b[:])
	return "r" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func (s *Server) handleCreateRun(w http.ResponseWriter, r *http.Request) {
	e, ok := decodeExperiment(w, r)
	if !ok {
		return
	}
	if len(r.Header.Get(tabHeader)) > maxTabLength {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s header over %d bytes", tabHeader, maxTabLength))
		return
	}
	tab := s.runTab(r)
	run, err := s.runs.create(tab, e)
	var busy errBusy
	switch {
	case errors.As(err, &busy):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.cfg.Logf("run %s: %s under %s, %s %s ×%d", run.id, sourceName(e.Source), e.Model, e.Load.Method, e.Load.Path, e.Load.Concurrency)
	go s.execute(run)
	time.AfterFunc(attachTimeout, func() {
		if run.attached.CompareAndSwap(false, true) {
			run.stop(errNoStream)
			s.runs.forget(run)
		}
	})
	writeJSON(w, http.StatusAccepted, map[string]string{"id": run.id})
}

func (s *Server) handleStopRun(w http.ResponseWriter, r *http.Request) {
	run := s.runs.get(r.PathValue("id"))
	if run == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no run %q (it ended, or never existed)", r.PathValue("id")))
		return
	}
	run.stop(errStopped)
	w.WriteHeader(http.StatusNoContent)
}

// execute runs the experiment to its end, releases its place, and ends
// its stream with a done event.
//
// A panic in the run's goroutines (here, runModel's tracer and stats, the
// tracer's event callback) is logged with its stack and ends the run with
// done {"error": "internal error: ..."}; runModel's defers stop the
// supervisor and reap its workers on the way out. A bug in a run never
// takes the server down.
func (s *Server) execute(run *run) {
	start := time.Now()
	err := s.guard(run, "run", func() error { return s.experiment(run) })
	s.runs.finish(run)
	done := stream.Done{}
	var ie *internalError
	if cause := context.Cause(run.ctx); errors.As(err, &ie) {
		done.Error = err.Error()
	} else if run.ctx.Err() != nil {
		done.Stopped = cause.Error()
	} else if err != nil {
		done.Error = err.Error()
	}
	s.cfg.Logf("run %s: ended after %v %s%s", run.id, time.Since(start).Round(time.Millisecond), done.Error, done.Stopped)
	run.out.send(stream.MsgDone, done)
	run.out.close()
	run.cancel(nil)
}

// internalError is a panic caught in a run: a bug, not the experiment's
// fault.
type internalError struct{ v any }

func (e *internalError) Error() string { return fmt.Sprintf("internal error: %v", e.v) }

// testHookPanic, if set (by tests), is called at named points of a run
// ("experiment", "stats", "trace", "event"), so that a test can force a
// panic there.
var testHookPanic func(where string)

func hook(where string) {
	if testHookPanic != nil {
		testHookPanic(where)
	}
}

// guard calls f and returns its error, or the *internalError of a panic in
// it, logged with its stack. what names f in the log.
func (s *Server) guard(run *run, what string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logf("run %s: panic in %s: %v\n%s", run.id, what, v, debug.Stack())
			err = &internalError{v}
		}
	}()
	return f()
}

// panicBox keeps the first panic caught in one model's goroutines, for
// runModel to return.
type panicBox struct {
	mu   sync.Mutex
	err  error
	flag atomic.Bool // err is set
}

func (p *panicBox) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.flag.Store(true)
	}
}

func (p *panicBox) failed() bool { return p.flag.Load() }

func (p *panicBox) get() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// experiment builds the handler and runs each model in turn.
func (s *Server) experiment(run *run) error {
	hook("experiment")
	art, err := s.build(run.ctx, run.exp.Source, func(msg string) {
		run.out.send(stream.MsgProgress, stream.Progress{Message: msg})
	})
	var de *diagnosticsError
	if errors.As(err, &de) {
		run.out.send(stream.MsgDiagnostics, stream.Diagnostics{Diagnostics: de.diags})
		return de
	}
	if err != nil {
		return err
	}
	parts, err := partsOf(run.exp)
	if err != nil {
		return err
	}
	var prev *stream.Result
	for _, p := range parts {
		res, err := s.runModel(run, p, art, prev)
		if err != nil {
			return err
		}
		if run.ctx.Err() != nil {
			return run.ctx.Err()
		}
		prev = res
	}
	return nil
}

// part is one model's run in an experiment: the experiment's model, one of
// the four in a Compare, or a variant's.
type part struct {
	model   models.Model
	variant string                // the variant's name ("" for none)
	exp     experiment.Experiment // as the part runs it (a variant applied)
}

// partsOf lists the runs of an experiment, in order: its model, the four
// models of a Compare ("all"), or, in a Compare with variants, each
// variant.
func partsOf(e experiment.Experiment) ([]part, error) {
	if e.Model != experiment.AllModels || len(e.Variants) == 0 {
		var parts []part
		for _, m := range modelsOf(e.Model) {
			parts = append(parts, part{model: m, exp: e})
		}
		return parts, nil
	}
	var parts []part
	for _, v := range e.Variants {
		ve, err := e.Apply(v)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %v", v.Name, err)
		}
		parts = append(parts, part{model: models.Model(v.Model), variant: v.Name, exp: ve.Normalize()})
	}
	return parts, nil
}

// modelConfig maps an experiment's knobs to the engine's configuration of
// one model (models.FromKnobs), on a free loopback port.
func modelConfig(e experiment.Experiment, m models.Model) models.Config {
	cfg := models.FromKnobs(m, e.Knobs)
	cfg.Addr = "127.0.0.1:0"
	cfg.Files, cfg.Env = e.Source.Files, experiment.EnvList(e.Env)
	return cfg
}

// loadOf maps an experiment's load (normalized) to the load generator's,
// against url: each request's timeout a little over the model's, so the
// server's 504 comes first, and the whole load cut at maxRunTime.
func loadOf(l experiment.Load, url string, timeout time.Duration) loadgen.Load {
	load := loadgen.FromExperiment(l, url, min(timeout+5*time.Second, maxRunTime))
	if load.Duration == 0 || load.Duration > maxRunTime {
		load.Duration = maxRunTime
	}
	// Every response reports its server-side phases, so that each
	// request's latency can be split into the time before its worker had
	// it (the accept queue), its wait and its service (liveStats).
	for i := range load.Groups {
		load.Groups[i].Config.Header.Set(models.PhasesHeader, "1")
	}
	return load
}

// runModel starts one model, loads it while streaming stats and trace
// batches, stops it (reaping its workers) and sends its summary.
//
// A panic in its goroutines (the tracer, the stats ticker, the event
// callback) cancels the load and is returned as an *internalError; a panic
// in runModel itself unwinds through its defers, which stop the supervisor,
// the tracer and the stats ticker, to execute's guard.
func (s *Server) runModel(run *run, p part, art *runtime.Artifact, prev *stream.Result) (*stream.Result, error) {
	m := p.model
	model := string(m)
	phase := func(state, err string) stream.Phase {
		return stream.Phase{Model: model, Variant: p.variant, State: state, Error: err}
	}
	run.out.send(stream.MsgPhase, phase(stream.PhaseStarting, ""))
	// loadCtx is the load's; a panic in a goroutine ends it early.
	loadCtx, cancelLoad := context.WithTimeout(run.ctx, maxRunTime)
	defer cancelLoad()
	var panicked panicBox
	caught := func(what string, f func() error) {
		if err := s.guard(run, what, f); err != nil {
			panicked.set(err)
			cancelLoad()
		}
	}

	tr := newTracer(run.out)
	trStop, trDone := make(chan struct{}, 1), make(chan struct{})
	go caught("the tracer", func() error {
		defer close(trDone)
		hook("trace")
		tr.run(trStop)
		return nil
	})
	var trOnce sync.Once
	stopTracer := func() { trOnce.Do(func() { close(trStop); <-trDone }) }
	defer stopTracer()

	cfg := modelConfig(p.exp, m)
	cfg.Wasm = art.Path
	cfg.CacheDir = s.cfg.CacheDir
	cfg.Executable = s.cfg.Executable
	cfg.Trace = true
	cfg.OnEvent = func(ev stream.Event) {
		if panicked.failed() {
			return // the run is ending: drop the rest
		}
		caught("the event callback", func() error {
			hook("event")
			tr.onEvent(ev)
			return nil
		})
	}
	cfg.Logf = func(format string, args ...any) { s.cfg.Logf("run %s: "+format, append([]any{run.id}, args...)...) }
	s.pre.await(run.ctx, art.Path)
	sup, err := models.Start(run.ctx, cfg)
	if err != nil {
		stopTracer()
		if err := panicked.get(); err != nil {
			return nil, err
		}
		if run.ctx.Err() != nil {
			// Stopped while starting (by the user, or the page went
			// away): not the handler's fault, so no error to show.
			run.out.send(stream.MsgPhase, phase(stream.PhaseStopped, ""))
			return nil, run.ctx.Err()
		}
		msg := fmt.Sprintf("%s: could not start: %v", model, err)
		run.out.send(stream.MsgPhase, phase(stream.PhaseStopped, msg))
		return nil, errors.New(msg)
	}
	defer sup.Close() // no-op once closed below; reaps the workers after a panic
	cfg = sup.Config()
	policy, _ := models.PolicyOf(m)
	res := &stream.Result{Model: model, Variant: p.variant, Lanes: policy.Lanes(&cfg), LoopUtil: -1}

	run.out.send(stream.MsgPhase, phase(stream.PhaseRunning, ""))
	keepAlive := cfg.KeepAlive && experiment.On(p.exp.Load.KeepAlive) // connections can pin lanes
	var groupNames []string                                           // reported apart only when the load has groups
	for _, g := range p.exp.Load.Groups {
		groupNames = append(groupNames, g.Name)
	}
	live := newLiveStats(groupNames)
	load := loadOf(p.exp.Load, sup.URL(), cfg.Timeout)
	load.OnResult = func(r loadgen.Result) {
		if panicked.failed() {
			return
		}
		caught("the stats callback", func() error {
			live.add(r)
			return nil
		})
	}
	tr.setLoading(true)

	// Stats every statsInterval, and the workers' memory with them: the
	// last sample before the load ends is the summary's.
	start := time.Now()
	statsStop, statsDone := make(chan struct{}), make(chan struct{})
	sent := false
	sample := func(win time.Duration, final bool) {
		ev, n := live.snapshot(win)
		if final && sent && n == 0 {
			return // nothing new since the last tick: it was the end
		}
		sent = true
		lag, util, queue := tr.window()
		slices.Sort(lag)
		ev.Model, ev.Variant, ev.TMS = model, p.variant, round2(ms(time.Since(start)))
		ev.LagP50MS, ev.LagP99MS = round2(ms(time.Duration(experiment.Percentile(lag, 0.50)))), round2(ms(time.Duration(experiment.Percentile(lag, 0.99))))
		ev.LoopUtil, ev.Queue = util, queue
		if util >= 0 {
			ev.LoopUtil = round2(util)
		}
		var lanes []string // lane states of the running workers
		for _, w := range sup.Workers() {
			if w.PID != 0 {
				ev.Workers++
				lanes = append(lanes, w.Lanes...)
			}
			for _, st := range w.Lanes {
				if busyLane(st) {
					ev.Busy++
				}
			}
		}
		if keepAlive && policy.PinsLane() {
			observePinning(res, lanes, queue)
		}
		ev.Scoreboard = sup.Scoreboard()
		if policy.Loop() || !policy.PinsLane() {
			// The loops' stub_status, or the event MPM's listeners'
			// connections (mod_status's async columns).
			ev.Conns = tr.loopConns()
		}
		res.Workers = max(res.Workers, ev.Workers)
		res.BusyPeak = max(res.BusyPeak, ev.Busy)
		rss := 0
		for _, kb := range sup.RSS() {
			rss += kb
		}
		res.RSSKB = rss
		run.out.send(stream.MsgStats, ev)
	}
	last := time.Now() // of the last sample; the goroutine owns it until statsDone
	go caught("the stats ticker", func() error {
		defer close(statsDone)
		tick := time.NewTicker(statsInterval)
		defer tick.Stop()
		for {
			select {
			case <-statsStop:
				return nil
			case now := <-tick.C:
				hook("stats")
				sample(now.Sub(last), false)
				last = now
			}
		}
	})
	var statsOnce sync.Once
	stopStats := func() { statsOnce.Do(func() { close(statsStop); <-statsDone }) }
	defer stopStats()
	sum, loadErr := loadgen.RunLoad(loadCtx, load)
	cancelLoad()
	stopStats()
	if err := panicked.get(); err != nil {
		return nil, err // the defers stop the supervisor and the tracer
	}
	sample(time.Since(last), true) // the end of the load, in the last stats event
	tr.setLoading(false)

	sup.Close()
	stopTracer()
	if err := panicked.get(); err != nil {
		return nil, err
	}

	tr.mu.Lock()
	res.QueuePeak = tr.queuePeak
	if util := tr.busy.Share(); util >= 0 {
		res.LoopUtil = round2(util)
	}
	slices.Sort(tr.lagAll)
	res.LagP99MS = round2(ms(time.Duration(experiment.Percentile(tr.lagAll, 0.99))))
	res.Deaths, res.Kills, res.DeathCause = len(tr.deaths), tr.kills, tr.deathCause
	deathFailed, groupDeathFailed := tr.deathFailed()
	res.DeathFailed = deathFailed
	res.BusyPeak = max(res.BusyPeak, tr.inflightPeak)
	res.KeptAlive = tr.keptAlive
	for _, g := range p.exp.Load.Traffic() {
		res.KeepAlive = res.KeepAlive || cfg.KeepAlive && experiment.On(g.KeepAlive)
	}
	res.WaitP50MS, res.ServiceP50MS = -1, -1
	if len(tr.waits) > 0 {
		slices.Sort(tr.waits)
		slices.Sort(tr.services)
		res.WaitP50MS, res.ServiceP50MS = round2(ms(time.Duration(experiment.Percentile(tr.waits, 0.50)))), round2(ms(time.Duration(experiment.Percentile(tr.services, 0.50))))
	}
	if h := tr.hold; h.Hold > 0 && policy.Loop() {
		res.LongestHold = newHoldInfo(h)
	}
	if sum != nil && len(groupNames) > 0 {
		res.Groups = groupResults(sum.Groups, tr.groups, policy.Loop())
		for i := range res.Groups {
			res.Groups[i].DeathFailed = groupDeathFailed[res.Groups[i].Name]
		}
	}
	res.Pool = newPoolResult(&tr.pool)
	tr.mu.Unlock()
	if sum != nil {
		res.QueueP50MS, res.P50Parts = live.latencyParts(sum.Latency.P50)
	} else {
		res.QueueP50MS = -1
	}
	if sum != nil {
		sum.Groups = nil // each is in res.Groups
	}
	res.Summary = sum
	if loadErr != nil && run.ctx.Err() == nil && !errors.Is(loadErr, context.DeadlineExceeded) {
		res.Error = loadErr.Error()
	}
	if sum != nil {
		res.Sentence = sentence(res, prev)
		for i := range res.Groups {
			res.Groups[i].Sentence = groupSentence(res, &res.Groups[i], prev)
		}
	}
	run.out.send(stream.MsgSummary, res)
	run.out.send(stream.MsgPhase, phase(stream.PhaseStopped, ""))
	return res, nil
}

// sourceName names a source in logs: its first file, and how many more.
func sourceName(src experiment.Source) string {
	if len(src.Files) == 0 {
		return "(no files)"
	}
	if len(src.Files) == 1 {
		return src.Files[0].Name
	}
	return fmt.Sprintf("%s and %d more", src.Files[0].Name, len(src.Files)-1)
}
