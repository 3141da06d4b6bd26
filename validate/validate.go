// Package validate measures mpmlab's models beside the real servers they
// model: `mpmlab validate`. Each Case runs the same settings, handler
// behaviour and load on an mpmlab model (`mpmlab run`) and on Apache or
// nginx as installed on the machine, serving a small Lua handler shipped
// here (apache/, nginx/). Both sides are driven by the same load generator
// (playground/loadgen) in this process, and both are child processes whose
// workers are their children.
//
// Usage:
//
//	results := validate.Run(ctx, validate.Options{Mpmlab: exe, Progress: os.Stderr})
//	validate.WriteText(os.Stdout, results)
//
// RunCost (`mpmlab validate --cost`) measures instead what the hello
// handler costs each model and its real server, one run each: CPU per
// request, memory per prefork process and per idle connection, from the
// kernel's accounting of each server's process tree (/proc), and latency
// at one client against the handler built natively.
//
//	rows, err := validate.RunCost(ctx, validate.CostOptions{Mpmlab: exe})
//	validate.WriteCostText(os.Stdout, rows)
//
// # Notes
//
//   - A shared machine disturbs any one run, so each case measures its
//     sides alternately, Case.Pairs times each (the order flipped every
//     pair), and compares the medians. The per-pair figures are kept in
//     Result.Pairs, to show how steady a case is.
//   - A real server not installed is a skipped case (Result.Skipped names
//     the Debian packages to install), not a failed one.
//   - The servers listen on 127.0.0.1 ports picked at random; nothing
//     leaves loopback.
package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

// Tolerance is how far a model's median may be from the real server's, as
// a fraction of the real server's, to be within.
const Tolerance = 0.15

// Options say which cases to run and how.
type Options struct {
	// Mpmlab is the mpmlab binary that runs the models (`mpmlab run`).
	Mpmlab string
	// Cases are the cases to run (default: every one of Cases).
	Cases []Case
	// Pairs, if > 0, replaces every case's own number of pairs.
	Pairs int
	// Path is where the real servers are looked for (default DefaultPath()).
	Path string
	// TempDir holds the real servers' configurations (default os.TempDir()).
	TempDir string
	// Progress, if not nil, gets a line per measurement.
	Progress io.Writer
}

// Run runs every case of opts in turn and returns their results, in the
// same order. A case that fails has Result.Error set; Run itself fails
// only when ctx is done (the results so far come with ctx.Err()).
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Cases == nil {
		opts.Cases = Cases
	}
	if opts.Path == "" {
		opts.Path = DefaultPath()
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	var results []Result
	for i := range opts.Cases {
		c := &opts.Cases[i]
		results = append(results, runCase(ctx, c, opts))
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	return results, nil
}

// runCase measures both sides of c.
func runCase(ctx context.Context, c *Case, opts Options) Result {
	res := Result{
		Name: c.Name, Title: c.Title, Model: "mpmlab " + c.Model, Metric: c.Metric.String(),
		Informational: c.Informational, Why: c.Why,
	}
	res.Real = c.Server
	if c.MPM != "" {
		res.Real += " " + c.MPM
	}
	bin, err := find(c, opts.Path)
	var missing *MissingError
	if errors.As(err, &missing) {
		res.Skipped = err.Error()
		progress(opts, "%s: skipped: %v", c.Name, err)
		return res
	}
	res.Real = strings.TrimSpace(version(bin) + " " + c.MPM)
	pairs := c.Pairs
	if opts.Pairs > 0 {
		pairs = opts.Pairs
	}
	sides := []*side{
		{name: res.Model, start: func() (*server, func(), error) {
			s, err := startModel(ctx, c, opts.Mpmlab)
			return s, func() {}, err
		}},
		{name: res.Real, start: func() (*server, func(), error) { return startReal(ctx, c, bin, opts.TempDir) }},
	}
	defer func() {
		for _, s := range sides {
			s.close()
		}
	}()
	for p := range pairs {
		order := sides
		if p%2 == 1 {
			order = []*side{sides[1], sides[0]}
		}
		for _, s := range order {
			v, note, err := s.measure(ctx, c)
			if err != nil {
				res.Error = fmt.Sprintf("%s: %v", s.name, err)
				progress(opts, "%s: %s", c.Name, res.Error)
				return res
			}
			s.values = append(s.values, v)
			progress(opts, "%s: pair %d/%d: %s %s %s", c.Name, p+1, pairs, s.name, num(v), note)
		}
		res.Pairs = append(res.Pairs, Pair{Model: sides[0].values[p], Real: sides[1].values[p]})
	}
	res.ModelValue, res.RealValue = median(sides[0].values), median(sides[1].values)
	res.Ratio, res.Within = verdict(res.ModelValue, res.RealValue)
	return res
}

// side is one server of a case and its measurements.
type side struct {
	name    string
	start   func() (*server, func(), error)
	srv     *server // running between measurements (rate cases)
	cleanup func()
	values  []float64
}

// measure takes one measurement of c on the side. A rate case starts the
// server once and keeps it between measurements; a ramp starts a fresh
// one each time, since the ramp is what a fresh pool does.
func (s *side) measure(ctx context.Context, c *Case) (float64, string, error) {
	if s.srv == nil {
		srv, cleanup, err := s.start()
		if err != nil {
			return 0, "", err
		}
		s.srv, s.cleanup = srv, cleanup
		if c.Metric == Rate {
			warm := warmUp
			warm.URL = srv.url
			if _, err := loadgen.Run(ctx, warm); err != nil {
				return 0, "", fmt.Errorf("warming up: %v", err)
			}
		}
	}
	var v float64
	var note string
	var err error
	switch c.Metric {
	case Ramp:
		v, note, err = measureRamp(ctx, c, s.srv.url, s.srv.pid())
	default:
		v, note, err = measureRate(ctx, c, s.srv.url)
	}
	if err == nil && s.srv.exited() {
		err = fmt.Errorf("exited during the load:\n%s", s.srv.log())
	}
	if c.Metric == Ramp {
		s.close()
	}
	if err == nil {
		sleep(ctx, settle)
	}
	return v, note, err
}

func (s *side) close() {
	if s.srv != nil {
		s.srv.stop()
		s.cleanup()
		s.srv = nil
	}
}

// verdict is the ratio of the model's value to the real server's, and
// whether it is within Tolerance.
func verdict(model, real float64) (ratio float64, within bool) {
	if real == 0 {
		return 0, model == 0
	}
	ratio = model / real
	return ratio, ratio >= 1-Tolerance && ratio <= 1+Tolerance
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func progress(opts Options, format string, args ...any) {
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "validate: "+format+"\n", args...)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
