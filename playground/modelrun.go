package playground

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// modelRun is one part of an experiment while it runs: one model started,
// loaded while its stats and trace batches stream to the tab, stopped (its
// workers reaped), and summed up in a stream.Result.
//
// Its goroutines (the tracer, the stats ticker) and its callbacks (the
// supervisor's events, the load's results) run guarded: a panic in one is
// kept in panicked and cancels the load, and runModel returns it as an
// *internalError. A panic in runModel itself unwinds through its defers,
// which stop the supervisor, the tracer and the stats ticker, to
// execute's guard.
type modelRun struct {
	s        *Server
	run      *run
	p        part
	panicked panicBox

	// loadCtx is the load's; a panic in a goroutine ends it early.
	loadCtx    context.Context
	cancelLoad context.CancelFunc

	tr         *tracer
	stopTracer func() // idempotent: waits for the tracer's last batch

	sup    *models.Supervisor
	cfg    models.Config // as the supervisor runs it (defaults applied)
	policy models.Policy
	live   *liveStats
	res    *stream.Result

	// The stats ticker's: when the load started, and whether a stats
	// event was sent; when it last sampled memory, and what it read.
	start time.Time
	sent  bool
	memAt time.Time
	mem   stream.Stats // PSSKB and Held only
}

// runModel runs one part of an experiment and sends its summary; prev is
// the previous part's result, which the summary's sentence compares with.
func (s *Server) runModel(run *run, p part, art *runtime.Artifact, prev *stream.Result) (*stream.Result, error) {
	mr := &modelRun{s: s, run: run, p: p}
	mr.loadCtx, mr.cancelLoad = context.WithTimeout(run.ctx, maxRunTime)
	defer mr.cancelLoad()
	mr.phase(stream.PhaseStarting, "")
	mr.startTracer()
	defer mr.stopTracer()
	if err := mr.startModel(art); err != nil {
		return nil, err
	}
	defer mr.sup.Close() // no-op once closed below; reaps the workers after a panic
	mr.phase(stream.PhaseRunning, "")
	mr.res.PSSBeforeKB = models.TotalPSS(mr.sup.PIDs())

	sum, loadErr := mr.load()
	if err := mr.panicked.get(); err != nil {
		return nil, err // the defers stop the supervisor and the tracer
	}
	mr.sup.Close()
	mr.stopTracer()
	if err := mr.panicked.get(); err != nil {
		return nil, err
	}
	mr.summarize(sum, loadErr, prev)
	run.out.send(stream.MsgSummary, mr.res)
	mr.phase(stream.PhaseStopped, "")
	return mr.res, nil
}

// phase sends the part's phase: starting, running or stopped (with the
// error that stopped it, if any).
func (mr *modelRun) phase(state, err string) {
	mr.run.out.send(stream.MsgPhase, stream.Phase{Model: string(mr.p.model), Variant: mr.p.variant, State: state, Error: err})
}

// caught runs f under the server's guard; a panic in it ends the load.
func (mr *modelRun) caught(what string, f func() error) {
	if err := mr.s.guard(mr.run, what, f); err != nil {
		mr.panicked.set(err)
		mr.cancelLoad()
	}
}

// startTracer starts the goroutine that batches the workers' events to
// the tab.
func (mr *modelRun) startTracer() {
	mr.tr = newTracer(mr.run.out)
	stop, done := make(chan struct{}, 1), make(chan struct{})
	go mr.caught("the tracer", func() error {
		defer close(done)
		hook("trace")
		mr.tr.run(stop)
		return nil
	})
	var once sync.Once
	mr.stopTracer = func() { once.Do(func() { close(stop); <-done }) }
}

// startModel starts the part's model on the built handler, traced, its
// events going to the tracer. A model that cannot start stops the part
// with an error, unless the run itself was stopped meanwhile.
func (mr *modelRun) startModel(art *runtime.Artifact) error {
	cfg := mr.s.runConfig(mr.p.exp, mr.p.model, art)
	cfg.Standby = mr.s.standby // its first workers, if started ahead
	cfg.Trace = true
	cfg.OnEvent = func(ev stream.Event) {
		if mr.panicked.failed() {
			return // the run is ending: drop the rest
		}
		mr.caught("the event callback", func() error {
			hook("event")
			mr.tr.onEvent(ev)
			return nil
		})
	}
	cfg.Logf = func(format string, args ...any) {
		mr.s.cfg.Logf("run %s: "+format, append([]any{mr.run.id}, args...)...)
	}
	mr.s.pre.await(mr.run.ctx, art.Path)
	sup, err := models.Start(mr.run.ctx, cfg)
	mr.s.pre.compiledElsewhere() // Start may have compiled the module
	if err != nil {
		mr.stopTracer()
		if err := mr.panicked.get(); err != nil {
			return err
		}
		if mr.run.ctx.Err() != nil {
			// Stopped while starting (by the user, or the page went
			// away): not the handler's fault, so no error to show.
			mr.phase(stream.PhaseStopped, "")
			return mr.run.ctx.Err()
		}
		msg := fmt.Sprintf("%s: could not start: %v", mr.p.model, err)
		mr.phase(stream.PhaseStopped, msg)
		return errors.New(msg)
	}
	mr.sup, mr.cfg = sup, sup.Config()
	mr.policy, _ = models.PolicyOf(mr.p.model)
	mr.res = &stream.Result{Model: string(mr.p.model), Variant: mr.p.variant, Lanes: mr.policy.Lanes(&mr.cfg), LoopUtil: -1}
	return nil
}

// load runs the experiment's load on the model, sending stats every
// statsInterval and once more at its end.
func (mr *modelRun) load() (*loadgen.Summary, error) {
	var groups []string // reported apart only when the load has groups
	for _, g := range mr.p.exp.Load.Groups {
		groups = append(groups, g.Name)
	}
	mr.live = newLiveStats(groups)
	load := loadOf(mr.p.exp.Load, mr.sup.URL(), mr.cfg.Timeout)
	load.OnResult = func(r loadgen.Result) {
		if mr.panicked.failed() {
			return
		}
		mr.caught("the stats callback", func() error {
			mr.live.add(r)
			return nil
		})
	}
	mr.tr.setLoading(true)
	defer mr.tr.setLoading(false)

	mr.start = time.Now()
	last := time.Now() // of the last sample; the ticker owns it until it stops
	stop, done := make(chan struct{}), make(chan struct{})
	go mr.caught("the stats ticker", func() error {
		defer close(done)
		tick := time.NewTicker(statsInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return nil
			case now := <-tick.C:
				hook("stats")
				mr.sendStats(now.Sub(last), false)
				last = now
			}
		}
	})
	var once sync.Once
	stopStats := func() { once.Do(func() { close(stop); <-done }) }
	defer stopStats()

	sum, err := loadgen.RunLoad(mr.loadCtx, load)
	mr.cancelLoad()
	stopStats()
	if mr.panicked.failed() {
		return sum, err
	}
	mr.sendStats(time.Since(last), true) // the end of the load, in the last stats event
	return sum, err
}

// sendStats sends the stats of the last win: the load's (latency, rate,
// failures), the loops' lag and utilisation, the accept queue, the
// workers' lanes and scoreboard, and the listeners' or loops'
// connections. It also keeps the result's peaks and memory: the last
// sample before the load ends is the summary's. A final sample with
// nothing new since the last tick is not sent: that tick was the end.
func (mr *modelRun) sendStats(win time.Duration, final bool) {
	ev, n := mr.live.snapshot(win)
	if final && mr.sent && n == 0 {
		return
	}
	mr.sent = true
	lag, util, queue := mr.tr.window()
	slices.Sort(lag)
	ev.Model, ev.Variant, ev.TMS = string(mr.p.model), mr.p.variant, round2(ms(time.Since(mr.start)))
	ev.LagP50MS, ev.LagP99MS = percentileMS(lag, 0.50), percentileMS(lag, 0.99)
	ev.LoopUtil, ev.Queue = util, queue
	if util >= 0 {
		ev.LoopUtil = round2(util)
	}
	var lanes []string // lane states of the running workers
	for _, w := range mr.sup.Workers() {
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
	// Connections can pin lanes only when they are kept alive.
	if mr.cfg.KeepAlive && experiment.On(mr.p.exp.Load.KeepAlive) && mr.policy.PinsLane() {
		observePinning(mr.res, lanes, queue)
	}
	ev.Scoreboard = mr.sup.Scoreboard()
	if mr.policy.Loop() || !mr.policy.PinsLane() {
		// The loops' stub_status, or the event MPM's listeners'
		// connections (mod_status's async columns).
		ev.Conns = mr.tr.loopConns()
	}
	mr.res.Workers = max(mr.res.Workers, ev.Workers)
	mr.res.BusyPeak = max(mr.res.BusyPeak, ev.Busy)
	rss := 0
	for _, kb := range mr.sup.RSS() {
		rss += kb
	}
	mr.res.RSSKB = rss
	mr.sampleMemory(&ev, final)
	mr.run.out.send(stream.MsgStats, ev)
}

// memoryInterval is how often the stats ticker samples the workers' PSS
// and the connections they hold: the kernel's count costs tens of
// milliseconds of CPU at ten thousand connections (models.HeldConns), too
// much for every 250 ms tick. Ticks in between repeat the last sample.
const memoryInterval = time.Second

// sampleMemory reads the workers' PSS and the connections they hold
// open into the stats event (at most every memoryInterval, and at the
// end), and keeps in the result the sample taken when they held the most
// (the last of equals): the point of the load at which memory per
// connection is measured, the same for every model. The final sample,
// taken once the load has ended and its connections closed, is kept only
// if no tick saw a connection held.
func (mr *modelRun) sampleMemory(ev *stream.Stats, final bool) {
	if !final && !mr.memAt.IsZero() && time.Since(mr.memAt) < memoryInterval {
		ev.PSSKB, ev.Held = mr.mem.PSSKB, mr.mem.Held // the last sample's
		return
	}
	mr.memAt = time.Now()
	ev.PSSKB = models.TotalPSS(mr.sup.PIDs())
	ev.Held, _ = models.HeldConns(mr.sup.Addr().Port)
	mr.mem.PSSKB, mr.mem.Held = ev.PSSKB, ev.Held
	if final && mr.res.ConnsHeld > 0 {
		return // the load is over: what it held is closed or closing
	}
	if ev.Held >= mr.res.ConnsHeld {
		mr.res.PSSKB, mr.res.ConnsHeld = ev.PSSKB, ev.Held
	}
}

// summarize completes the part's result once the load is over and the
// model stopped: what the tracer saw, the load's summary and the
// latency's parts, and the sentences that say what happened (compared
// with prev).
func (mr *modelRun) summarize(sum *loadgen.Summary, loadErr error, prev *stream.Result) {
	res := mr.res
	loop := mr.policy.Loop()
	mr.tr.result(res, loop)
	for _, g := range mr.p.exp.Load.Traffic() {
		res.KeepAlive = res.KeepAlive || mr.cfg.KeepAlive && experiment.On(g.KeepAlive)
	}
	if loadErr != nil && mr.run.ctx.Err() == nil && !errors.Is(loadErr, context.DeadlineExceeded) {
		res.Error = loadErr.Error()
	}
	res.PerConnKB = stream.PerConnKB(res.PSSBeforeKB, res.PSSKB, res.ConnsHeld)
	if sum == nil {
		res.QueueP50MS = -1
		return
	}
	if len(mr.p.exp.Load.Groups) > 0 {
		res.Groups = mr.tr.groupResults(sum.Groups, loop)
		for i := range res.Groups {
			g := &res.Groups[i]
			if gi, ok := mr.live.groupIndex(g.Name); ok && g.Summary != nil {
				_, g.P50Parts = mr.live.partsOf(g.Summary.Latency.P50, gi)
			}
		}
	}
	res.QueueP50MS, res.P50Parts = mr.live.latencyParts(sum.Latency.P50)
	sum.Groups = nil // each is in res.Groups
	res.Summary = sum
	res.Sentence = sentence(res, prev)
	for i := range res.Groups {
		res.Groups[i].Sentence = groupSentence(res, &res.Groups[i], prev)
	}
}

// runConfig is the configuration a run of e under m starts on art, this
// server's build: modelConfig, with the module, the cache and the binary.
func (s *Server) runConfig(e experiment.Experiment, m models.Model, art *runtime.Artifact) models.Config {
	cfg := modelConfig(e, m)
	cfg.Wasm, cfg.CacheDir, cfg.Executable = art.Path, s.cfg.CacheDir, s.cfg.Executable
	cfg.KeepCompileMemory = true // for the next compile: the precompiler hands it back
	return cfg
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
	// it (the accept queue), its wait and its service (liveStats); and
	// every request says when it was sent, so that the live view draws
	// each one's time before a worker took it.
	for i := range load.Groups {
		load.Groups[i].Config.Header.Set(models.PhasesHeader, "1")
		load.Groups[i].Config.StampSent = true
	}
	return load
}
