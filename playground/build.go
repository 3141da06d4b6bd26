package playground

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"go/format"
	"go/scanner"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/runtime"
	mpwasm "github.com/mpmlab/mpmlab/wasm"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Limits of building.
const (
	// maxBuilds caps go commands at once: a build uses every core.
	maxBuilds = 2
	// buildTimeout bounds one build; a first build compiles the standard
	// library for wasm and takes tens of seconds.
	buildTimeout = runtime.DefaultBuildTimeout
)

// sourceRequest is the body of /api/build and /api/format.
type sourceRequest struct {
	Source experiment.Source `json:"source"`
}

// buildResponse is /api/build's answer.
type buildResponse struct {
	Hash      string  `json:"hash"`
	Cached    bool    `json:"cached"`
	ElapsedMS float64 `json:"elapsed_ms"`
	// Compiled says the machine code is ready (asked with ?wait=compiled);
	// false when the compile failed or was stopped for a newer build's.
	Compiled bool `json:"compiled,omitempty"`
}

// diagnosticsError is a source that does not compile (or whose package
// clause is wrong): answered with 422 and its located diagnostics.
type diagnosticsError struct {
	diags []runtime.Diagnostic
}

func (e *diagnosticsError) Error() string { return "does not compile" }

// handleBuild builds a source, and compiles its module in the background.
// The body may be a whole experiment (model, knobs, env beside the
// source): the workers its Run would start first are then started ahead,
// once the module is compiled (prepareRun).
func (s *Server) handleBuild(w http.ResponseWriter, r *http.Request) {
	var e experiment.Experiment
	if !decode(w, r, &e) || !checkSource(w, e.Source) {
		return
	}
	ctx, cancel := s.requestContext(r) // Stop cancels it
	defer cancel()
	source := sourceKey(e.Source)
	s.pre.supersede(source) // the person typed on: this build needs the cores
	art, err := s.build(ctx, e.Source, nil)
	if err != nil {
		writeBuildError(w, err)
		return
	}
	compile := s.pre.start(art.Path, source, s.prepareRun(e, art)) // the Run that follows starts at once
	res := buildResponse{Hash: art.Hash, Cached: art.Cached, ElapsedMS: ms(art.Elapsed)}
	if r.URL.Query().Get("wait") == "compiled" && compile != nil {
		res.Compiled = compile.wait(ctx)
	}
	writeJSON(w, http.StatusOK, res)
}

// sourceKey names a source for the precompiler: its SHA-256.
func sourceKey(src experiment.Source) string {
	sum := sha256.Sum256(src.Txtar())
	return string(sum[:])
}

// prepareRun is what follows the compile of art when e, a build's body,
// names a model: the first workers of e's Run are started ahead, waiting
// in s.standby. Nil if e is only a source, or not an experiment that
// could run (its Run will say why).
func (s *Server) prepareRun(e experiment.Experiment, art *runtime.Artifact) func(context.Context) {
	cfg, ok := s.firstModelConfig(e, art)
	if !ok {
		return nil
	}
	return func(ctx context.Context) {
		if err := s.standby.Prepare(ctx, cfg); err != nil && ctx.Err() == nil {
			s.cfg.Logf("starting workers ahead for %s: %v", cfg.Model, err)
		}
	}
}

// refillStandby starts ahead, once a run of e has ended, the workers the
// next Run of it would take, if the pool still holds e's module: the
// check said "Run starts at once", and a second Run must too.
func (s *Server) refillStandby(e experiment.Experiment, art *runtime.Artifact) {
	cfg, ok := s.firstModelConfig(e, art)
	if !ok {
		return
	}
	go func() {
		if err := s.standby.Refill(s.stopCtx, cfg); err != nil && s.stopCtx.Err() == nil {
			s.cfg.Logf("starting workers ahead for %s: %v", cfg.Model, err)
		}
	}()
}

// firstModelConfig is the configuration of the first model e runs (its
// model, or the first of a Compare) on art; false if e does not name a
// model or is not valid.
func (s *Server) firstModelConfig(e experiment.Experiment, art *runtime.Artifact) (models.Config, bool) {
	if e.Model == "" || e.Validate() != nil {
		return models.Config{}, false
	}
	parts, err := partsOf(e.Normalize())
	if err != nil || len(parts) == 0 {
		return models.Config{}, false
	}
	return s.runConfig(parts[0].exp, parts[0].model, art), true
}

// decodeSource reads a {"source": ...} body and checks the source; on
// failure it has written the error answer.
func decodeSource(w http.ResponseWriter, r *http.Request) (sourceRequest, bool) {
	var req sourceRequest
	if !decode(w, r, &req) || !checkSource(w, req.Source) {
		return req, false
	}
	return req, true
}

// checkSource validates a source on its own (413 if too large, 400
// otherwise) and writes the error.
func checkSource(w http.ResponseWriter, src experiment.Source) bool {
	if err := src.Validate(); err != nil {
		status := http.StatusBadRequest
		var se *experiment.SizeError
		if errors.As(err, &se) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, err.Error())
		return false
	}
	return true
}

// writeBuildError answers a failed build: 422 with diagnostics when the
// source is at fault, 503 when the build could not run.
func writeBuildError(w http.ResponseWriter, err error) {
	var de *diagnosticsError
	if errors.As(err, &de) {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: de.Error(), Diagnostics: de.diags})
		return
	}
	if errors.Is(err, context.Canceled) {
		writeError(w, http.StatusServiceUnavailable, "build cancelled")
		return
	}
	writeError(w, http.StatusServiceUnavailable, "build failed: "+err.Error())
}

// build compiles src for the host sandbox, at most maxBuilds at once,
// passing progress lines to progress (which may be nil). A source the
// compiler (or the package-clause check) rejects gives a
// *diagnosticsError.
func (s *Server) build(ctx context.Context, src experiment.Source, progress func(string)) (*runtime.Artifact, error) {
	return s.buildFor(ctx, src, runtime.TargetWASI, progress)
}

// buildFor is build for a target: runtime.TargetWASI (the host) or
// runtime.TargetJS (the browser, jsbuild.go).
func (s *Server) buildFor(ctx context.Context, src experiment.Source, target runtime.Target, progress func(string)) (*runtime.Artifact, error) {
	if err := src.Validate(); err != nil {
		// Package clause and file names: locate them like compile errors.
		diags := runtime.ParseDiagnostics(err.Error())
		if len(diags) == 0 {
			diags = []runtime.Diagnostic{{Message: err.Error()}}
		}
		return nil, &diagnosticsError{diags}
	}
	var slot *buildSlot
	select {
	case slot = <-s.builds:
	case <-ctx.Done():
		return nil, ctx.Err()
	default:
		if progress != nil {
			progress("waiting for another build to finish")
		}
		select {
		case slot = <-s.builds:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() { s.builds <- slot }()
	b := slot.use(progress)
	defer slot.use(nil)
	art, err := b.Build(ctx, src, target)
	var be *runtime.BuildError
	if errors.As(err, &be) {
		diags := be.Diagnostics
		if len(diags) == 0 {
			diags = []runtime.Diagnostic{{Message: strings.TrimSpace(be.Output)}}
		}
		return nil, &diagnosticsError{diags}
	}
	return art, err
}

// buildSlot is one of the maxBuilds places to build, with its own
// runtime.Builder: kept for the server's life, so `go env GOVERSION` runs
// once per slot rather than on every build (cache hits included). Its
// Builder's Progress goes to the progress function of the build that holds
// the slot, which is the only one using the Builder.
type buildSlot struct {
	b        *runtime.Builder
	mu       sync.Mutex
	progress func(string) // of the build holding the slot; may be nil
}

func newBuildSlot(cacheDir string) *buildSlot {
	slot := &buildSlot{}
	slot.b = &runtime.Builder{CacheDir: cacheDir, Timeout: buildTimeout, Progress: slot.report}
	return slot
}

// use routes the Builder's progress to progress (nil: nowhere) and returns
// the Builder.
func (slot *buildSlot) use(progress func(string)) *runtime.Builder {
	slot.mu.Lock()
	slot.progress = progress
	slot.mu.Unlock()
	return slot.b
}

func (slot *buildSlot) report(msg string) {
	slot.mu.Lock()
	progress := slot.progress
	slot.mu.Unlock()
	if progress != nil {
		progress(msg)
	}
}

// handleFormat formats every file with go/format: 200 with the formatted
// source, or 422 with the syntax errors located.
func (s *Server) handleFormat(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSource(w, r)
	if !ok {
		return
	}
	out := sourceRequest{Source: experiment.Source{Files: []experiment.File{}}}
	var diags []runtime.Diagnostic
	for _, f := range req.Source.Files {
		if !strings.HasSuffix(f.Name, ".go") { // a data file is the user's as written
			out.Source.Files = append(out.Source.Files, f)
			continue
		}
		b, err := format.Source([]byte(f.Data))
		if err != nil {
			var list scanner.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					diags = append(diags, runtime.Diagnostic{File: f.Name, Line: e.Pos.Line, Col: e.Pos.Column, Message: e.Msg})
				}
			} else {
				diags = append(diags, runtime.Diagnostic{File: f.Name, Message: err.Error()})
			}
			continue
		}
		out.Source.Files = append(out.Source.Files, experiment.File{Name: f.Name, Data: string(b)})
	}
	if len(diags) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: "does not parse", Diagnostics: diags})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// Example is one entry of GET /api/examples: an example's source, and the
// knobs and load it is meant to run with, which the page puts in its form
// when the person picks the example.
type Example struct {
	Name    string            `json:"name"`
	Summary string            `json:"summary"`
	Source  experiment.Source `json:"source"`
	exampleSettings
}

// exampleSettings are an example's knobs and load: its experiment.json
// (wasm/examples/<name>/experiment.json), a load that shows the example's
// point in a few seconds per model, and the knobs it needs for that (a
// short timeout for runaway). Zero fields are defaults, as in an
// experiment.
type exampleSettings struct {
	// Watch says what to look for when the example runs, in a line above
	// the live view ("watch GET /hello wait behind GET /?ms=200").
	Watch string           `json:"watch"`
	Knobs experiment.Knobs `json:"knobs"`
	Load  experiment.Load  `json:"load"`
	// Variants are what the example's Compare runs, if not the four
	// models (the remedies of a starved loop, side by side).
	Variants []experiment.Variant `json:"variants,omitempty"`
}

// readExampleSettings reads and checks an example's experiment.json. An
// example without one runs with the defaults.
func readExampleSettings(name string) (exampleSettings, error) {
	var set exampleSettings
	data, err := fs.ReadFile(mpwasm.Examples, "examples/"+name+"/experiment.json")
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err == nil {
		err = experiment.DecodeJSON(bytes.NewReader(data), &set)
	}
	if err == nil {
		// Checked as an experiment's would be (a stand-in source).
		e := experiment.Experiment{Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n"}}},
			Model: experiment.AllModels, Knobs: set.Knobs, Load: set.Load, Variants: set.Variants}
		if err = e.Validate(); err == nil {
			e = e.Normalize()
			set.Knobs, set.Load, set.Variants = e.Knobs, e.Load, e.Variants
		}
	}
	if err != nil {
		return exampleSettings{}, fmt.Errorf("example %s: experiment.json: %w", name, err)
	}
	return set, nil
}

// Examples returns the bundled example handlers (wasm/examples, sorted by
// name) as GET /api/examples lists them. The share service serves the same
// list, written out when it is built (cmd/mpmlab-share/examples).
func Examples() []Example {
	list := []Example{}
	for _, name := range runtime.ExampleNames() {
		src, err := runtime.ExampleSource(name)
		if err != nil {
			continue
		}
		info := Example{Name: name, Source: src}
		// A bad experiment.json (TestPlaygroundExampleLoads catches it)
		// leaves the defaults.
		info.exampleSettings, _ = readExampleSettings(name)
		for _, f := range src.Files {
			if info.Summary == "" {
				info.Summary = docSummary(f.Data)
			}
		}
		list = append(list, info)
	}
	return list
}

func (s *Server) handleExamples(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Examples())
}

// docSummary returns the first sentence of a Go file's leading comment
// (the example's doc comment), on one line.
func docSummary(data string) string {
	var text []string
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		c, ok := strings.CutPrefix(line, "//")
		if !ok {
			if len(text) > 0 || strings.HasPrefix(line, "package") {
				break
			}
			continue
		}
		if strings.HasPrefix(c, "go:") {
			continue
		}
		text = append(text, strings.TrimSpace(c))
	}
	s := strings.Join(text, " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
