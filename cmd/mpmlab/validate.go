package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
  error          why the case could not be measured`)
	return b.String()
}

func validateCmd(args []string) error {
	fs := newFlags("validate", "[--case NAME,...] [--pairs N] [--json]", validateDescription())
	asJSON := fs.Bool("json", false, "print the results as JSON")
	only := fs.String("case", "", "run only these cases (comma-separated names)")
	pairs := fs.Int("pairs", 0, "measure each side this many times (0: each case's own)")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
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
