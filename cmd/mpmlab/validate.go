package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/validate"
)

func validateDescription() string {
	var b strings.Builder
	b.WriteString(`
Run canned experiments on mpmlab's models and on the real servers installed
on this machine (Apache 2.4 and nginx with its Lua module), with the same
settings, the same handler behaviour and the same load, and print them side
by side: each side's median, their ratio (model over real) and a verdict,
within 15% or not.

Each side is a real server on a loopback port: the model is 'mpmlab run',
the real server runs a small Lua handler from the repository's validate/
directory doing what the model's handler does (a 50 ms sleep, or a 50 ms
wait that holds its thread or loop). One load generator drives both, the
one behind 'mpmlab bench'. A shared machine disturbs any one run, so every
case measures its two sides alternately, several pairs, and compares the
medians; the pairs are printed too, to show how steady a case is.

A server that is not installed is reported as skipped, naming the Debian
packages to install (apache2; nginx and libnginx-mod-http-lua); the exit
status is 1 only when a case that ran is not within 15% and is not marked
informational (a case whose figures are reported without being held to it).

Cases:
`)
	for _, c := range validate.Cases {
		fmt.Fprintf(&b, "  %-18s %s\n", c.Name, c.Title)
		fmt.Fprintf(&b, "  %-18s mpmlab %s, %s: %s\n", "", c.Model, c.Server+strings.TrimSuffix(" "+c.MPM, " "), c.Metric)
	}
	b.WriteString(`
--json prints {"cases": [...]} where each case has:
  name, title    the case
  model, real    the two sides: "mpmlab event", "Apache/2.4.67 (Debian) event"
  metric         what the values are
  model_value    the median of the model's measurements
  real_value     the median of the real server's
  ratio          model_value / real_value
  within         whether ratio is within 15% of 1
  pairs          [{model, real}]: each round's measurements
  informational  the case does not fail the command; why says what was seen
  skipped        why the case did not run (a server not installed)
  error          why the case could not be measured

--cost measures instead what the hello handler costs each model and the
real server it models (issue 21), one run of each side, and prints:

  CPU per request, prefork (8 processes)   Apache prefork  mpmlab process
  CPU per request, worker (1 x 8 threads)  Apache worker   mpmlab thread
  CPU per request, event (same pool)       Apache event    mpmlab event
  CPU per request, one loop                nginx, 1 worker mpmlab reactor
  memory per prefork process (RSS, PSS)    Apache child    process worker
  memory per idle keep-alive connection    nginx           mpmlab reactor
  p50 at one keep-alive client             native Go net/http: reactor, process

CPU per request is the user and system CPU time of the server's whole
process tree (parent and workers, from /proc/PID/stat) over --duration (5s)
of 8 keep-alive clients sending back to back, divided by the requests
answered.
Memory per process is the median RSS and PSS of the pool's children after
that load (/proc/PID/smaps_rollup). Memory per idle connection is the
growth of the tree's RSS (and PSS) once 10,000 connections have each sent
one request and stay open, over their number (fewer if RLIMIT_NOFILE does
not allow it, which the output says). p50 is one keep-alive client's median
latency over --duration, sending back to back; the native baseline is the
same hello handler built for this machine and served by net/http. Each row has its
ratio (mpmlab over the real server), issue 21's target and whether it is
met. The targets are informational: the exit status is 1 only when a side
could not be measured. A real server not installed leaves its side of the
rows skipped, naming the Debian packages. About two minutes.

--cost --json prints {"cost": [...]} where each row has:
  name, cost     the row: "cpu-prefork", "CPU per request, prefork (8 processes)"
  real, model    the two sides
  unit           of the values: µs, MiB (PSS) or B (RSS per connection)
  real_value     the real server's figure
  model_value    the model's figure
  real_detail, model_detail   the cells' RSS and PSS, where there are both
  ratio          model_value / real_value
  target, met    issue 21's target in words, and whether the row meets it
  note           what the figures rest on (requests, children, connections)
  skipped        why the real side was not measured (not installed)
  error          why a side could not be measured`)
	return b.String()
}

func validateCmd(args []string) error {
	fs := newFlags("validate", "[--case NAME,...] [--pairs N] [--json] | --cost [--duration D] [--json]", validateDescription())
	asJSON := fs.Bool("json", false, "print the results as JSON")
	only := fs.String("case", "", "run only these cases (comma-separated names)")
	pairs := fs.Int("pairs", 0, "measure each side this many times (0: each case's own)")
	cost := fs.Bool("cost", false, "measure what a request, a prefork process and an idle connection cost, instead of the cases")
	duration := fs.Duration("duration", validate.CostDuration, "with --cost: each load's length")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if durationSet && !*cost {
		return usagef("--duration is --cost's: the cases have loads of their own")
	}
	if *cost {
		if *only != "" || *pairs != 0 {
			return usagef("--cost measures once, on no case: it takes neither --case nor --pairs")
		}
		if *duration < 100*time.Millisecond || *duration > time.Minute {
			return usagef("duration %v out of range 100ms..1m", *duration)
		}
		return costCmd(*asJSON, *duration)
	}
	if *pairs < 0 || *pairs > 100 {
		return usagef("pairs %d out of range 0..100", *pairs)
	}
	var cases []validate.Case
	if *only != "" {
		for _, name := range strings.Split(*only, ",") {
			c := validate.CaseNamed(strings.TrimSpace(name))
			if c == nil {
				return usagef("unknown case %q (see mpmlab validate --help)", name)
			}
			cases = append(cases, *c)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := validate.Run(ctx, validate.Options{Mpmlab: exe, Cases: cases, Pairs: *pairs, Progress: os.Stderr})
	if *asJSON {
		if werr := validate.WriteJSON(os.Stdout, results); werr != nil {
			return werr
		}
	} else if werr := validate.WriteText(os.Stdout, results); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Failed() {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("not within %.0f%% of the real server: %s", validate.Tolerance*100, strings.Join(failed, ", "))
	}
	return nil
}

// costCmd is `mpmlab validate --cost`.
func costCmd(asJSON bool, d time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := validate.RunCost(ctx, validate.CostOptions{Mpmlab: exe, Duration: d, Progress: os.Stderr})
	if err != nil {
		return err
	}
	if asJSON {
		err = validate.WriteCostJSON(os.Stdout, rows)
	} else {
		err = validate.WriteCostText(os.Stdout, rows)
	}
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range rows {
		if r.Failed() {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not measure: %s", strings.Join(failed, ", "))
	}
	return nil
}
