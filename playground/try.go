package playground

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// Limits of a try.
const (
	// maxTries caps the tries in flight.
	maxTries = 2
	// maxWarm caps the models kept running between tries, and warmIdle is
	// how long one is kept after its last try.
	maxWarm  = 2
	warmIdle = time.Minute
	// maxTryBody caps the body sent, maxTryResponse the body returned (the
	// rest is cut, and the answer says so).
	maxTryBody     = 64 << 10
	maxTryResponse = 1 << 20
	maxTryHeaders  = 32
	maxTryLog      = 50
)

// tryRequest is the body of POST /api/try.
type tryRequest struct {
	Experiment experiment.Experiment `json:"experiment"`
	Method     string                `json:"method"`  // default GET
	Path       string                `json:"path"`    // default "/"
	Headers    map[string]string     `json:"headers"` // at most maxTryHeaders
	Body       string                `json:"body"`
}

// tryResponse is the answer: what the handler replied, and who served it.
type tryResponse struct {
	Model      string            `json:"model"`
	Status     int               `json:"status"` // 0 if no response (see Error)
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	Truncated  bool              `json:"truncated,omitempty"` // body cut at 1 MiB
	DurationMS float64           `json:"duration_ms"`
	Worker     string            `json:"worker"` // X-Mpmlab-Worker, e.g. "loop 0 (pid 4242)"
	Error      string            `json:"error,omitempty"`
	Log        []string          `json:"log,omitempty"` // what the guest printed
}

// startTry takes a place for a try, under maxTries and tracked by Stop,
// or refuses it (errShutdown once stopping).
func (s *Server) startTry() (release func(), err error) {
	s.tryMu.Lock()
	defer s.tryMu.Unlock()
	if s.stopped {
		return nil, errShutdown
	}
	select {
	case s.tries <- struct{}{}:
	default:
		return nil, fmt.Errorf("%d tries are already in flight (the limit is %d): try again in a moment", maxTries, maxTries)
	}
	s.tryWG.Add(1)
	return func() {
		<-s.tries
		s.tryWG.Done()
	}, nil
}

// handleTry sends one request to the experiment's model (the reactor for
// "all") and answers with the response. The model keeps running after the
// try (see warmModels): a second try of the same experiment reaches the
// same workers, whose globals remember the first, as a server would.
func (s *Server) handleTry(w http.ResponseWriter, r *http.Request) {
	var req tryRequest
	if !decode(w, r, &req) {
		return
	}
	e, ok := checkExperiment(w, req.Experiment)
	if !ok {
		return
	}
	load := experiment.Load{Path: req.Path, Method: req.Method, Concurrency: 1, Requests: 1}.Normalize()
	if err := load.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, strings.NewReplacer("load.path", "path", "load.method", "method").Replace(err.Error()))
		return
	}
	if len(req.Headers) > maxTryHeaders {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("headers: %d; the limit is %d", len(req.Headers), maxTryHeaders))
		return
	}
	if len(req.Body) > maxTryBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is %d bytes; the limit is %d (%d KiB)", len(req.Body), maxTryBody, maxTryBody>>10))
		return
	}
	hreq, err := http.NewRequest(load.Method, "http://127.0.0.1"+load.Path, strings.NewReader(req.Body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "path: "+err.Error())
		return
	}
	for k, v := range req.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("headers: bad header %q", k))
			return
		}
		hreq.Header.Set(k, v)
	}
	release, err := s.startTry()
	if err != nil {
		status := http.StatusTooManyRequests
		if err == errShutdown {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, err.Error())
		return
	}
	defer release()

	ctx, cancelCtx := s.requestContext(r) // Stop ends the try
	defer cancelCtx()
	art, err := s.build(ctx, e.Source, nil)
	if err != nil {
		writeBuildError(w, err)
		return
	}
	model := models.Model(e.Model)
	if e.Model == experiment.AllModels {
		model = experiment.DefaultModel
	}
	cfg := modelConfig(e, model)
	cfg.Wasm = art.Path
	cfg.CacheDir = s.cfg.CacheDir
	cfg.Executable = s.cfg.Executable
	key := experiment.Experiment{Source: e.Source, Env: e.Env, Model: string(model), Knobs: e.Knobs}.ShareID()
	s.pre.await(ctx, art.Path)
	wm, err := s.warm.get(ctx, key, cfg)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s: could not start: %v", model, err))
		return
	}
	logs := wm.listen()
	defer s.warm.release(wm, logs)
	sup := wm.sup

	timeout := min(cfg.WithDefaults().Timeout+5*time.Second, maxRunTime)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq = hreq.WithContext(rctx)
	hreq.URL.Host = sup.Addr().String()
	hreq.Host = sup.Addr().String()
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	out := tryResponse{Model: string(model), Headers: map[string]string{}}
	start := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		out.Error = err.Error()
	} else {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxTryResponse+1))
		resp.Body.Close()
		if len(body) > maxTryResponse {
			body, out.Truncated = body[:maxTryResponse], true
		}
		if rerr != nil {
			out.Error = rerr.Error()
		}
		out.Status, out.Body = resp.StatusCode, string(body)
		for k, v := range resp.Header {
			out.Headers[k] = strings.Join(v, ", ")
		}
		out.Worker = resp.Header.Get("X-Mpmlab-Worker")
	}
	out.DurationMS = round2(ms(time.Since(start)))
	out.Log = wm.unlisten(logs)
	writeJSON(w, http.StatusOK, out)
}

// warmModels keeps the model of recent tries running, one supervisor per
// experiment (source, model and knobs: the load does not matter to a
// server), so that tries of one experiment reach the same workers, as
// requests to a server would: a counter counts.
//
// # Notes
//
//   - At most maxWarm models are kept; starting another closes the least
//     recently used idle one. One is closed warmIdle after its last try
//     ends, and every one is closed (its workers reaped) by closeAll, which
//     Stop calls.
//   - Tries of one experiment at once share its supervisor; each gets the
//     guest output printed while it ran.
type warmModels struct {
	mu     sync.Mutex
	models map[string]*warmModel
	idle   time.Duration
	closed bool
	wg     sync.WaitGroup // supervisors being closed
}

// warmModel is one kept model.
type warmModel struct {
	key     string
	sup     *models.Supervisor
	users   int         // tries using it (under warmModels.mu)
	lastUse time.Time   // when its last try ended
	timer   *time.Timer // closes it once idle

	logMu sync.Mutex
	sinks map[*tryLog]bool // the tries that are listening
}

// tryLog is the guest output one try saw.
type tryLog struct{ lines []string }

func newWarmModels(idle time.Duration) *warmModels {
	return &warmModels{models: map[string]*warmModel{}, idle: idle}
}

// get returns the running model for key, starting it with cfg if there is
// none, and counts the caller as its user until release.
func (g *warmModels) get(ctx context.Context, key string, cfg models.Config) (*warmModel, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, errShutdown
	}
	if wm := g.models[key]; wm != nil {
		wm.use()
		g.mu.Unlock()
		return wm, nil
	}
	g.mu.Unlock()

	wm := &warmModel{key: key, sinks: map[*tryLog]bool{}}
	cfg.OnEvent = wm.onEvent
	sup, err := models.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	wm.sup = sup
	g.mu.Lock()
	defer g.mu.Unlock()
	if other := g.models[key]; other != nil || g.closed {
		g.closeLocked(wm) // a try of the same experiment started it first, or Stop came
		if g.closed {
			return nil, errShutdown
		}
		other.use()
		return other, nil
	}
	wm.use()
	g.models[key] = wm
	for len(g.models) > maxWarm && g.evictLocked() {
	}
	return wm, nil
}

// release ends a try's use of wm; it is closed once idle for g.idle.
func (g *warmModels) release(wm *warmModel, l *tryLog) {
	wm.unlisten(l)
	g.mu.Lock()
	defer g.mu.Unlock()
	if wm.users--; wm.users == 0 && g.models[wm.key] == wm {
		wm.lastUse = time.Now()
		if wm.timer == nil {
			wm.timer = time.AfterFunc(g.idle, func() { g.expire(wm) })
		} else {
			wm.timer.Reset(g.idle)
		}
	}
}

// use counts one more try using wm (under warmModels.mu).
func (wm *warmModel) use() {
	wm.users++
	if wm.timer != nil {
		wm.timer.Stop()
	}
}

// expire closes wm if it is still idle.
func (g *warmModels) expire(wm *warmModel) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if wm.users == 0 && g.models[wm.key] == wm && time.Since(wm.lastUse) >= g.idle {
		g.closeLocked(wm)
	}
}

// evictLocked closes the least recently used idle model; it reports false
// if every model is in use.
func (g *warmModels) evictLocked() bool {
	var lru *warmModel
	for _, wm := range g.models {
		if wm.users == 0 && (lru == nil || wm.lastUse.Before(lru.lastUse)) {
			lru = wm
		}
	}
	if lru == nil {
		return false
	}
	g.closeLocked(lru)
	return true
}

// closeLocked forgets wm and closes its supervisor in the background
// (closeAll waits for it).
func (g *warmModels) closeLocked(wm *warmModel) {
	if g.models[wm.key] == wm {
		delete(g.models, wm.key)
	}
	if wm.timer != nil {
		wm.timer.Stop()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		wm.sup.Close()
	}()
}

// closeAll closes every model, refuses new ones, and waits until their
// workers are reaped. Tries still using one get their answer or an error
// (the workers are gone).
func (g *warmModels) closeAll() {
	g.mu.Lock()
	g.closed = true
	for _, wm := range g.models {
		g.closeLocked(wm)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// count returns how many models are kept.
func (g *warmModels) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.models)
}

func (wm *warmModel) onEvent(ev stream.Event) {
	if ev.Kind != stream.EventLog {
		return
	}
	wm.logMu.Lock()
	defer wm.logMu.Unlock()
	for l := range wm.sinks {
		if len(l.lines) < maxTryLog {
			l.lines = append(l.lines, ev.Text)
		}
	}
}

// listen starts collecting the guest's output for one try.
func (wm *warmModel) listen() *tryLog {
	l := &tryLog{}
	wm.logMu.Lock()
	wm.sinks[l] = true
	wm.logMu.Unlock()
	return l
}

// unlisten stops collecting into l and returns what it got.
func (wm *warmModel) unlisten(l *tryLog) []string {
	wm.logMu.Lock()
	defer wm.logMu.Unlock()
	delete(wm.sinks, l)
	return l.lines
}
