package playground

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Limits of runs.
const (
	// maxRuns caps the experiments running at once, over every tab.
	maxRuns = 2
	// maxRunTime caps the load on one model (an experiment is capped at
	// 60 s; Compare runs three models one after another).
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
		return nil, errBusy{fmt.Sprintf("this tab already has a running experiment (%s): stop it first", r.id)}
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
	var e experiment.Experiment
	if !decode(w, r, &e) {
		return
	}
	e, ok := checkExperiment(w, e)
	if !ok {
		return
	}
	tab := r.Header.Get(tabHeader)
	if len(tab) > maxTabLength {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s header over %d bytes", tabHeader, maxTabLength))
		return
	}
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

// phaseEvent is the data of a "phase" event.
type phaseEvent struct {
	Model string `json:"model"`
	State string `json:"state"` // starting, running, stopped
	Error string `json:"error,omitempty"`
}

// doneEvent is the data of the last event of a stream.
type doneEvent struct {
	// Error says why the experiment failed ("" if it did not).
	Error string `json:"error"`
	// Stopped says why it was stopped before its end, if it was.
	Stopped string `json:"stopped,omitempty"`
}

// execute runs the experiment to its end, releases its place, and ends
// its stream with a done event.
func (s *Server) execute(run *run) {
	start := time.Now()
	err := s.experiment(run)
	s.runs.finish(run)
	done := doneEvent{}
	if cause := context.Cause(run.ctx); run.ctx.Err() != nil {
		done.Stopped = cause.Error()
	} else if err != nil {
		done.Error = err.Error()
	}
	s.cfg.Logf("run %s: ended after %v %s%s", run.id, time.Since(start).Round(time.Millisecond), done.Error, done.Stopped)
	run.out.send("done", done)
	run.out.close()
	run.cancel(nil)
}

// experiment builds the handler and runs each model in turn.
func (s *Server) experiment(run *run) error {
	art, err := s.build(run.ctx, run.exp.Source, func(msg string) {
		run.out.send("progress", map[string]string{"message": msg})
	})
	var de *diagnosticsError
	if errors.As(err, &de) {
		run.out.send("diagnostics", map[string]any{"diagnostics": de.diags})
		return de
	}
	if err != nil {
		return err
	}
	var prev *modelResult
	for _, m := range modelsOf(run.exp.Model) {
		res, err := s.runModel(run, m, art, prev)
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

// modelConfig maps an experiment's knobs (normalized) to the engine's
// configuration of one model.
func modelConfig(e experiment.Experiment, m models.Model) models.Config {
	k := e.Knobs
	maxKA := k.MaxKeepAliveRequests
	if maxKA < 0 {
		maxKA = 0 // unlimited
	}
	minSpare := k.MinSpare
	if minSpare < 0 {
		minSpare = 0 // no spares
	}
	return models.Config{
		Model:                  m,
		Addr:                   "127.0.0.1:0",
		Backlog:                k.Backlog,
		StartServers:           k.StartServers,
		MinSpare:               minSpare,
		MaxSpare:               k.MaxSpare,
		MaxRequestWorkers:      k.MaxRequestWorkers,
		Processes:              k.Processes,
		ThreadsPerChild:        k.ThreadsPerChild,
		Loops:                  k.Loops,
		Connections:            k.Connections,
		MaxConnectionsPerChild: k.MaxConnectionsPerChild,
		KeepAlive:              experiment.On(k.KeepAlive),
		KeepAliveTimeout:       time.Duration(k.KeepAliveTimeoutMS) * time.Millisecond,
		MaxKeepAliveRequests:   maxKA,
		Timeout:                time.Duration(k.TimeoutMS) * time.Millisecond,
		MemoryLimit:            k.MemoryLimitMB << 20,
	}
}

// loadConfig maps an experiment's load (normalized) to the load
// generator's, against url.
func loadConfig(l experiment.Load, url string, timeout time.Duration) loadgen.Config {
	c := loadgen.Config{
		URL:         url + l.Path,
		Method:      l.Method,
		Concurrency: l.Concurrency,
		Requests:    l.Requests,
		Duration:    time.Duration(l.DurationMS) * time.Millisecond,
		Rate:        l.Rate,
		KeepAlive:   experiment.On(l.KeepAlive),
		Timeout:     min(timeout+5*time.Second, maxRunTime),
	}
	if c.Duration == 0 {
		c.Duration = maxRunTime
	}
	return c
}

// runModel starts one model, loads it while streaming stats and trace
// batches, stops it (reaping its workers) and sends its summary.
func (s *Server) runModel(run *run, m models.Model, art *runtime.Artifact, prev *modelResult) (*modelResult, error) {
	model := string(m)
	run.out.send("phase", phaseEvent{Model: model, State: "starting"})
	tr := newTracer(run.out)
	trStop, trDone := make(chan struct{}, 1), make(chan struct{})
	go tr.run(trStop, trDone)
	stopTracer := func() { close(trStop); <-trDone }

	cfg := modelConfig(run.exp, m)
	cfg.Wasm = art.Path
	cfg.CacheDir = s.cfg.CacheDir
	cfg.Executable = s.cfg.Executable
	cfg.Trace = true
	cfg.OnEvent = tr.onEvent
	cfg.Logf = func(format string, args ...any) { s.cfg.Logf("run %s: "+format, append([]any{run.id}, args...)...) }
	sup, err := models.Start(run.ctx, cfg)
	if err != nil {
		stopTracer()
		msg := fmt.Sprintf("%s: could not start: %v", model, err)
		run.out.send("phase", phaseEvent{Model: model, State: "stopped", Error: msg})
		if run.ctx.Err() != nil {
			return nil, run.ctx.Err()
		}
		return nil, errors.New(msg)
	}
	cfg = sup.Config()
	res := &modelResult{Model: model, Lanes: 1, LoopUtil: -1}
	if m == models.Thread {
		res.Lanes = cfg.ThreadsPerChild
	}

	run.out.send("phase", phaseEvent{Model: model, State: "running"})
	live := newLiveStats()
	load := loadConfig(run.exp.Load, sup.URL(), cfg.Timeout)
	load.OnResult = live.add
	loadCtx, cancelLoad := context.WithTimeout(run.ctx, maxRunTime)
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
		ev.Model, ev.TMS = model, round2(ms(time.Since(start)))
		ev.LagP50MS, ev.LagP99MS = round2(ms(time.Duration(pct(lag, 50)))), round2(ms(time.Duration(pct(lag, 99))))
		ev.LoopUtil, ev.Queue = util, queue
		if util >= 0 {
			ev.LoopUtil = round2(util)
		}
		for _, w := range sup.Workers() {
			if w.PID != 0 {
				ev.Workers++
			}
			for _, st := range w.Lanes {
				if busyLane(st) {
					ev.Busy++
				}
			}
		}
		ev.Scoreboard = sup.Scoreboard()
		res.Workers = max(res.Workers, ev.Workers)
		res.BusyPeak = max(res.BusyPeak, ev.Busy)
		rss := 0
		for _, kb := range sup.RSS() {
			rss += kb
		}
		res.RSSKB = rss
		run.out.send("stats", ev)
	}
	last := time.Now() // of the last sample; the goroutine owns it until statsDone
	go func() {
		defer close(statsDone)
		tick := time.NewTicker(statsInterval)
		defer tick.Stop()
		for {
			select {
			case <-statsStop:
				return
			case now := <-tick.C:
				sample(now.Sub(last), false)
				last = now
			}
		}
	}()
	sum, loadErr := loadgen.Run(loadCtx, load)
	cancelLoad()
	close(statsStop)
	<-statsDone
	sample(time.Since(last), true) // the end of the load, in the last stats event
	tr.setLoading(false)

	sup.Close()
	stopTracer()

	tr.mu.Lock()
	res.QueuePeak = tr.queuePeak
	if tr.utilTime > 0 {
		res.LoopUtil = round2(tr.utilBusy / tr.utilTime)
	}
	slices.Sort(tr.lagAll)
	res.LagP99MS = round2(ms(time.Duration(pct(tr.lagAll, 99))))
	res.Deaths, res.Kills, res.DeathCause = len(tr.deaths), tr.kills, tr.deathCause
	tr.mu.Unlock()
	res.Summary = sum
	if loadErr != nil && run.ctx.Err() == nil && !errors.Is(loadErr, context.DeadlineExceeded) {
		res.Error = loadErr.Error()
	}
	if sum != nil {
		res.Sentence = sentence(res, prev)
	}
	run.out.send("summary", res)
	run.out.send("phase", phaseEvent{Model: model, State: "stopped"})
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
