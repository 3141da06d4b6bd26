// Package playground is the service behind `mpmlab serve`: the front end
// (embedded www/), and the JSON API of API.md that builds handlers, runs
// experiments with a live event stream, sends single requests, and stores
// shares.
//
//	pg, err := playground.New(playground.Config{DataDir: dir})
//	if err != nil {
//		return err
//	}
//	defer pg.Close()
//	http.Serve(ln, pg)
//
// # Notes
//
//   - Everything a page sends is bounded: request bodies (maxBodySize), the
//     source (experiment.MaxSourceSize), every knob and load field (with
//     guest instances per model and memory per instance capped below the
//     CLI's: experiment.MaxInstances, experiment.MaxMemoryMB), the runs in
//     flight (maxRuns, one per tab) and the load on each model (maxRunTime,
//     60 s: Compare runs four models, so about 4 × 60 s plus builds). Bad
//     input gets a 4xx with {"error": "..."} naming the field.
//   - Only this server's page may call it (access.go): a Host that is not
//     one of its names gets 403 (DNS rebinding), a state-changing request
//     from another Origin 403 unless Config.AllowedOrigins lists it (then
//     CORS), a JSON body not sent as application/json 415. A Public server
//     limits each client address (clients.go, ClientLimits).
//   - Guest code never runs in this process: runs and tries start a
//     models.Supervisor, whose workers are child processes. A run closes it
//     (reaping them) when it ends, is stopped, or its page goes away; a try
//     keeps it for the next try of the same experiment (warmModels), until
//     it has been idle for a minute.
//   - A panic in a run's goroutines is logged with its stack and ends that
//     run with done {"error": "internal error: ..."}, its workers reaped; a
//     panic in a handler answers 500. Neither takes the process down.
//   - Stop ends every run and try (refusing new ones), closes the models
//     kept for tries, and waits for their workers to be reaped; Close does that and then closes the share store.
//     A graceful shutdown is Stop, then http.Server.Shutdown (shares in
//     flight finish), then Close.
package playground

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/share"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Limits of the API.
const (
	// maxBodySize caps every request body: a 64 KiB source with JSON
	// escaping and the rest of an experiment fits well within it.
	maxBodySize = share.MaxBodySize
	// tabHeader names the browser tab a request comes from (one run per tab).
	tabHeader = "X-Mpmlab-Tab"
)

// Config configures a playground Server. Only DataDir is required.
type Config struct {
	// DataDir holds the share store, DataDir/shares.db. It is created if
	// missing.
	DataDir string
	// CacheDir is mpmlab's build cache (default runtime.DefaultCacheDir()).
	CacheDir string
	// Executable is the mpmlab binary that workers run as "mpmlab worker"
	// (default os.Executable()).
	Executable string
	// Logf prints the server's log lines (runs starting and ending, worker
	// lifecycles). May be nil.
	Logf func(format string, args ...any)

	// Addr is the address the server listens on, as `mpmlab serve --addr`
	// gives it ("127.0.0.1:8080"). Its host is one of the server's names
	// (see AllowedHosts); an unspecified host ("0.0.0.0", "::", none)
	// allows every IP address. May be empty.
	Addr string
	// AllowedHosts are names the server answers to in the Host header,
	// besides the loopback names (localhost, *.localhost, 127.0.0.0/8,
	// ::1) and Addr's host: "mybox.lan", or ".example.org" for
	// example.org and every name under it. Any other Host is refused with
	// 403, against DNS rebinding.
	AllowedHosts []string
	// AllowedOrigins are the origins of pages served elsewhere that may
	// call the API ("https://share.example"): their requests are served
	// with CORS headers and their preflights answered. A request that
	// changes state from any other page (its Origin neither this server's
	// nor listed) is refused with 403.
	AllowedOrigins []string
	// ShareService, when set, is the origin of a share service
	// (cmd/mpmlab-share, "https://…") that Share publishes to, through
	// this server (share.RemoteStore): links then open anywhere. Empty:
	// shares stay in DataDir's store.
	ShareService string
	// Public marks a server reachable beyond loopback (a classroom host):
	// each client address is then limited (see ClientLimits), and runs one
	// experiment at a time rather than one per tab.
	Public bool
}

// Server is the playground: an http.Handler for the front end and the API.
// Create it with New; it is safe for concurrent use.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	shares *boltStore // the share store (share.go), served by package share
	runs   *runRegistry
	builds chan *buildSlot // maxBuilds slots: go commands at once
	tries  chan struct{}   // semaphore: tries at once
	warm   *warmModels     // the models of recent tries, kept running
	static *static
	jsMods *jsModules   // browser builds (jsbuild.go)
	pre    *precompiler // machine code compiled ahead of runs (precompile.go)
	// standby holds the workers of the next Run, started once its source
	// is compiled (precompile.go).
	standby *models.Standby

	access  *access  // Host and Origin checks (access.go)
	clients *clients // per-client limits when Public (clients.go); nil otherwise

	// stopCtx ends when Stop is called: it cancels tries and builds in
	// flight.
	stopCtx  context.Context
	stopAll  context.CancelFunc
	tryMu    sync.Mutex
	stopped  bool           // under tryMu: no new tries
	tryWG    sync.WaitGroup // tries in flight
	stopOnce sync.Once

	closeOnce sync.Once
}

// New opens the share store and returns the playground. Close it to stop
// every run and release the store.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("playground: no data directory")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = runtime.DefaultCacheDir()
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Executable = exe
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	acc, err := newAccess(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("playground: data directory: %w", err)
	}
	var remote *share.RemoteStore
	if cfg.ShareService != "" {
		if remote, err = share.NewRemoteStore(cfg.ShareService); err != nil {
			return nil, fmt.Errorf("playground: %w", err)
		}
	}
	shares, err := openBoltStore(filepath.Join(cfg.DataDir, "shares.db"))
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		mux:    http.NewServeMux(),
		shares: shares,
		runs:   newRunRegistry(),
		builds: make(chan *buildSlot, maxBuilds),
		tries:  make(chan struct{}, maxTries),
		warm:   newWarmModels(warmIdle),
		static: newStatic(),
		jsMods: newJSModules(),
		access: acc,
	}
	if cfg.Public {
		s.clients = newClients()
	}
	s.stopCtx, s.stopAll = context.WithCancel(context.Background())
	s.pre = newPrecompiler(s.stopCtx, cfg.CacheDir)
	s.standby = models.NewStandby()
	for range maxBuilds {
		s.builds <- newBuildSlot(cfg.CacheDir)
	}
	s.routes(remote)
	go s.static.file("app.wasm") // compress it before the first page load asks
	return s, nil
}

// routes registers the API; remote, when not nil, is the share service
// that shares go to.
func (s *Server) routes(remote *share.RemoteStore) {
	s.mux.HandleFunc("GET /api/examples", s.handleExamples)
	s.mux.HandleFunc("POST /api/build", s.handleBuild)
	s.mux.HandleFunc("POST /api/build/js", s.handleBuildJS)
	s.mux.HandleFunc("GET /api/wasm/{file}", s.handleWasm)
	s.mux.HandleFunc("POST /api/format", s.handleFormat)
	s.mux.HandleFunc("POST /api/runs", s.handleCreateRun)
	s.mux.HandleFunc("GET /api/runs/{id}/events", s.handleEvents)
	s.mux.HandleFunc("POST /api/runs/{id}/stop", s.handleStopRun)
	s.mux.HandleFunc("POST /api/try", s.handleTry)
	s.mux.HandleFunc("GET /api/host", s.handleHost)
	shares := &share.Handler{
		Store: s.shares,
		Check: validateExperiment,
		Page:  http.HandlerFunc(s.static.serveIndex),
		Logf:  s.cfg.Logf,
	}
	if remote != nil {
		shares.Store, shares.Base = remote, remote.Base
	}
	shares.Register(s.mux)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path))
	})
	s.mux.Handle("/", s.static) // GET and HEAD only (static checks)
}

// ServeHTTP serves the front end and the API to the requests that name
// this server in their Host and, when they may change state, come from its
// own page or an allowed origin (access.go); others get 403.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug in a handler must not take the host down with it.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.cfg.Logf("panic serving %s %s: %v", r.Method, r.URL.Path, v)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	if !s.access.admit(w, r) {
		return
	}
	done, ok := s.clients.enter(w, r)
	if !ok {
		return
	}
	defer done()
	s.mux.ServeHTTP(w, r)
}

// Stop stops every run and try, refuses new ones (503), and waits until
// their workers are reaped; builds in flight are cancelled. The rest of the
// API (shares, examples, the front end) keeps working until Close, so that
// http.Server.Shutdown can drain it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.tryMu.Lock()
		s.stopped = true
		s.tryMu.Unlock()
		s.stopAll()
		s.pre.wait()
		s.standby.Close()
		s.runs.closeAll()
		s.tryWG.Wait()
		s.warm.closeAll()
	})
}

// Close stops every run and try as Stop does, then closes the share store.
// The Server must not be used afterwards.
func (s *Server) Close() error {
	s.Stop()
	var err error
	s.closeOnce.Do(func() {
		err = s.shares.close()
	})
	return err
}

// requestContext returns r's context, also ended by Stop.
func (s *Server) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	unhook := context.AfterFunc(s.stopCtx, cancel)
	return ctx, func() { unhook(); cancel() }
}

// writeJSON writes v as the JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) { share.WriteJSON(w, status, v) }

// errorBody is every error response: {"error": "..."}, with diagnostics
// when the source does not compile.
type errorBody struct {
	Error       string               `json:"error"`
	Diagnostics []runtime.Diagnostic `json:"diagnostics,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// decode reads the request body as JSON into v, strictly, within
// maxBodySize; on failure it has written the 415, 400 or 413 (share.Decode).
//
// Requiring application/json is part of the access checks (access.go): a
// foreign page can send text/plain, a form or nothing without a preflight,
// but application/json only after one, which only an allowed origin passes.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return share.Decode(w, r, v, maxBodySize)
}

// decodeExperiment reads an experiment body, validates it and returns it
// normalized; on failure it has written the error answer.
func decodeExperiment(w http.ResponseWriter, r *http.Request) (experiment.Experiment, bool) {
	var e experiment.Experiment
	if !decode(w, r, &e) {
		return e, false
	}
	return checkExperiment(w, e)
}

// checkExperiment validates e and returns it normalized; on failure it
// writes the 400 (a field out of range) or 413 (the source too large).
func checkExperiment(w http.ResponseWriter, e experiment.Experiment) (experiment.Experiment, bool) {
	return share.CheckExperiment(w, e, validateExperiment)
}

// validateExperiment checks e against the experiment's limits: the
// page's ranges of experiment.KnobTable, within the engine's, which
// models.Config.Validate checks from the same table, so an experiment that
// passes here passes there (TestPlaygroundConfigValid).
func validateExperiment(e experiment.Experiment) error { return e.Validate() }

// modelsOf lists the models an experiment runs: one, or all four for
// "all" (Compare), in models.Models order.
func modelsOf(model string) []models.Model {
	if model == experiment.AllModels {
		return models.Models
	}
	return []models.Model{models.Model(model)}
}
