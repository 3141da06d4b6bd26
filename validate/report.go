package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Result is one case's outcome. It marshals to the JSON of `mpmlab
// validate --json`.
type Result struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Model  string `json:"model"`  // "mpmlab process"
	Real   string `json:"real"`   // "Apache/2.4.67 (Debian) prefork"
	Metric string `json:"metric"` // what the values are
	// ModelValue and RealValue are the medians of each side's
	// measurements; Ratio is ModelValue / RealValue, and Within says
	// whether it is within Tolerance of 1.
	ModelValue float64 `json:"model_value"`
	RealValue  float64 `json:"real_value"`
	Ratio      float64 `json:"ratio"`
	Within     bool    `json:"within"`
	// Pairs are the measurements, one pair per round, to judge how
	// steady the case is.
	Pairs []Pair `json:"pairs,omitempty"`
	// Informational cases do not fail the command; Why says why.
	Informational bool   `json:"informational,omitempty"`
	Why           string `json:"why,omitempty"`
	// Skipped says why the case did not run (its server is not installed).
	Skipped string `json:"skipped,omitempty"`
	// Error says why the case failed to measure.
	Error string `json:"error,omitempty"`
}

// Pair is one round of a case: each side measured once.
type Pair struct {
	Model float64 `json:"model"`
	Real  float64 `json:"real"`
}

// Failed reports whether r fails the command: a case that ran, counts, and
// is not within Tolerance (or could not be measured).
func (r Result) Failed() bool {
	return r.Skipped == "" && !r.Informational && (r.Error != "" || !r.Within)
}

// Verdict is r's outcome in a word or two: "within 15%", "off by 23%",
// "skipped", "error"; informational cases say so.
func (r Result) Verdict() string {
	var v string
	switch {
	case r.Skipped != "":
		return "skipped"
	case r.Error != "":
		v = "error"
	case r.Within:
		v = fmt.Sprintf("within %.0f%%", Tolerance*100)
	case r.RealValue == 0:
		v = "off (real 0)"
	default:
		v = fmt.Sprintf("off by %.0f%%", math.Abs(r.Ratio-1)*100)
	}
	if r.Informational {
		v += " (informational)"
	}
	return v
}

// spread is the range of the pairs' ratios, model over real.
func (r Result) spread() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range r.Pairs {
		if p.Real == 0 {
			continue
		}
		q := p.Model / p.Real
		lo, hi, ok = min(lo, q), max(hi, q), true
	}
	return lo, hi, ok
}

// WriteText prints results as a table, then each case's pairs and what
// kept a case out of it (skipped, errors, informational).
func WriteText(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tmodel\treal\tmetric\tmodel\treal\tratio\tverdict")
	for _, r := range results {
		if r.Skipped != "" || r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t%s\n", r.Name, r.Model, r.Real, r.Metric, r.Verdict())
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\n", r.Name, r.Model, r.Real, r.Metric,
			num(r.ModelValue), num(r.RealValue), r.Ratio, r.Verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range results {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(w, "%s: skipped: %s\n", r.Name, r.Skipped)
		case r.Error != "":
			fmt.Fprintf(w, "%s: %s\n", r.Name, indent(r.Error))
		default:
			pairs := make([]string, len(r.Pairs))
			for i, p := range r.Pairs {
				pairs[i] = num(p.Model) + "/" + num(p.Real)
			}
			line := fmt.Sprintf("%s: %s; model/real by pair: %s", r.Name, r.Title, strings.Join(pairs, ", "))
			if lo, hi, ok := r.spread(); ok {
				line += fmt.Sprintf(" (ratios %.2f to %.2f)", lo, hi)
			}
			fmt.Fprintln(w, line)
		}
		if r.Informational && r.Why != "" {
			fmt.Fprintf(w, "  informational: %s\n", r.Why)
		}
	}
	_, err := fmt.Fprintf(w, "\nverdict: model median over real median within %.0f%%; pairs measured alternately.\n", Tolerance*100)
	return err
}

// WriteJSON prints results as {"cases": [...]}.
func WriteJSON(w io.Writer, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string][]Result{"cases": results})
}

// num prints a figure with three significant digits, more for large ones.
func num(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }
