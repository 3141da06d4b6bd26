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
)

// Limits of a try.
const (
	// maxTries caps the tries in flight, each with its own workers.
	maxTries = 2
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

// handleTry starts the experiment's model (the reactor for "all"), sends
// it one request, stops it and answers with the response.
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
	if e.Model == "all" {
		model = models.Reactor
	}
	var logMu sync.Mutex
	var logs []string
	cfg := modelConfig(e, model)
	cfg.Wasm = art.Path
	cfg.CacheDir = s.cfg.CacheDir
	cfg.Executable = s.cfg.Executable
	cfg.OnEvent = func(ev models.Event) {
		if ev.Kind == models.EventLog {
			logMu.Lock()
			if len(logs) < maxTryLog {
				logs = append(logs, ev.Text)
			}
			logMu.Unlock()
		}
	}
	sup, err := models.Start(ctx, cfg)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s: could not start: %v", model, err))
		return
	}
	defer sup.Close()

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
	sup.Close()
	logMu.Lock()
	out.Log = logs
	logMu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
