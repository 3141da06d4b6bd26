package playground

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/models"
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
	defer s.refillStandby(run.exp, art) // if its first workers were started ahead
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
