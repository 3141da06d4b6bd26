package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// CostRow is one row of the cost table (`mpmlab validate --cost`): one
// cost on the real server and on its model. It marshals to the JSON of
// `--cost --json`.
type CostRow struct {
	Name  string `json:"name"`  // "cpu-prefork"
	Cost  string `json:"cost"`  // "CPU per request, prefork (8 processes)"
	Real  string `json:"real"`  // "Apache/2.4.67 (Debian) prefork"
	Model string `json:"model"` // "mpmlab process"
	Unit  string `json:"unit"`  // of the values: "µs", "MiB", "B"
	// RealValue and ModelValue are the figures compared; RealDetail and
	// ModelDetail what the cells say beside them (RSS and PSS).
	RealValue   float64 `json:"real_value"`
	ModelValue  float64 `json:"model_value"`
	RealDetail  string  `json:"real_detail,omitempty"`
	ModelDetail string  `json:"model_detail,omitempty"`
	// Ratio is ModelValue / RealValue.
	Ratio float64 `json:"ratio"`
	// Target is issue 21's, in words; Met whether the row reaches it.
	// Targets are informational: they do not fail the command.
	Target string `json:"target"`
	Met    bool   `json:"met"`
	// Note says how much the figures rest on (requests, connections).
	Note string `json:"note,omitempty"`
	// Skipped says why the real side was not measured (not installed);
	// Error why a side could not be measured.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`

	target                costTarget
	realLabel, modelLabel string // the table's short names: "Apache prefork", "process"
}

// costTarget is a row's target: the ratio at most maxRatio, and when
// maxModel > 0 the model's value at most that instead.
type costTarget struct {
	maxRatio, maxModel float64
	text               string
}

// costMeasures are the sides RunCost measured.
type costMeasures struct {
	prefork, process, worker, thread, event, eventModel, nginx, reactor, native sideCost
}

// costRows makes the table from the measurements.
func costRows(m *costMeasures) []CostRow {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	cpu := func(name, cost, realLabel, modelLabel string, real, model *sideCost, max float64, of string) CostRow {
		r := newRow(name, cost, "µs", real, model, costTarget{maxRatio: max, text: fmt.Sprintf("≤ %g× %s", max, of)})
		r.realLabel, r.modelLabel = realLabel, modelLabel
		r.RealValue, r.ModelValue = us(real.perRequest()), us(model.perRequest())
		r.Note = fmt.Sprintf("requests answered: %d real, %d model", real.Requests, model.Requests)
		return r.evaluate(real, model)
	}
	rows := []CostRow{
		cpu("cpu-prefork", "CPU per request, prefork (8 processes)", "Apache prefork", "process", &m.prefork, &m.process, 2, "Apache"),
		cpu("cpu-worker", "CPU per request, worker (1 × 8 threads)", "Apache worker", "thread", &m.worker, &m.thread, 2, "Apache"),
		cpu("cpu-event", "CPU per request, event (Apache event at defaults, same pool)", "Apache event", "event", &m.event, &m.eventModel, 2, "Apache"),
		cpu("cpu-loop", "CPU per request, one loop", "nginx (1 worker)", "reactor", &m.nginx, &m.reactor, 4, "nginx"),
	}

	proc := newRow("memory-process", "memory per prefork process", "MiB", &m.prefork, &m.process,
		costTarget{maxModel: 12, text: "PSS ≤ 12 MiB"})
	proc.RealValue, proc.ModelValue = float64(m.prefork.Child.PSS)/1024, float64(m.process.Child.PSS)/1024
	proc.realLabel, proc.modelLabel = "Apache child", "process worker"
	proc.RealDetail = fmt.Sprintf("RSS %s, PSS %s", mib(m.prefork.Child.RSS), mib(m.prefork.Child.PSS))
	proc.ModelDetail = fmt.Sprintf("RSS %s, PSS %s", mib(m.process.Child.RSS), mib(m.process.Child.PSS))
	proc.Note = fmt.Sprintf("medians of %d real and %d model children, after the load; ratio of PSS (of RSS: %s)",
		m.prefork.Children, m.process.Children, ratioText(float64(m.process.Child.RSS), float64(m.prefork.Child.RSS)))
	rows = append(rows, proc.evaluate(&m.prefork, &m.process))

	conn := newRow("memory-connection", "memory per idle keep-alive connection, one loop", "B", &m.nginx, &m.reactor,
		costTarget{maxRatio: 4, text: "≤ 4× nginx"})
	realRSS, realPSS := m.nginx.perConnection()
	modelRSS, modelPSS := m.reactor.perConnection()
	conn.realLabel, conn.modelLabel = "nginx", "reactor"
	conn.RealValue, conn.ModelValue = realRSS, modelRSS
	conn.RealDetail = idleDetail(&m.nginx, realRSS, realPSS)
	conn.ModelDetail = idleDetail(&m.reactor, modelRSS, modelPSS)
	conn.Note = fmt.Sprintf("the server tree's RSS (and PSS) after opening the idle connections, less before, over their number: %d nginx, %d model",
		m.nginx.IdleOpened, m.reactor.IdleOpened)
	rows = append(rows, conn.evaluate(&m.nginx, &m.reactor))

	p50 := func(name, label string, model *sideCost) CostRow {
		r := newRow(name, "p50 at one client (1 keep-alive client), "+label, "µs", &m.native, model,
			costTarget{maxRatio: 2, text: "≤ 2× native"})
		r.realLabel, r.modelLabel = "native Go net/http", label
		r.RealValue, r.ModelValue = us(m.native.P50), us(model.P50)
		r.Note = fmt.Sprintf("requests: %d native, %d model", m.native.LatencyRequests, model.LatencyRequests)
		return r.evaluate(&m.native, model)
	}
	return append(rows, p50("p50-reactor", "reactor", &m.reactor), p50("p50-process", "process", &m.process))
}

func newRow(name, cost, unit string, real, model *sideCost, t costTarget) CostRow {
	return CostRow{Name: name, Cost: cost, Unit: unit, Real: real.Name, Model: model.Name, Target: t.text, target: t}
}

// evaluate fills the ratio and the verdict of r from its values, or the
// reason there is none.
func (r CostRow) evaluate(real, model *sideCost) CostRow {
	var errs []string
	for _, s := range []*sideCost{real, model} {
		if s.Error != "" {
			errs = append(errs, s.Error)
		}
	}
	r.Error = strings.Join(errs, "; ")
	r.Skipped = real.Skipped
	if r.RealValue > 0 {
		r.Ratio = r.ModelValue / r.RealValue
	}
	if r.Error != "" {
		return r
	}
	if r.target.maxModel > 0 {
		r.Met = model.Error == "" && r.ModelValue <= r.target.maxModel
	} else {
		r.Met = r.Skipped == "" && r.RealValue > 0 && r.Ratio <= r.target.maxRatio
	}
	return r
}

// Failed reports whether the row could not be measured: the one outcome
// that fails `mpmlab validate --cost` (a target not met does not, nor a
// real server not installed).
func (r CostRow) Failed() bool { return r.Error != "" }

// verdict is the row's last column: "met", "not met", or why neither.
func (r CostRow) verdict() string {
	switch {
	case r.Error != "":
		return "error"
	case r.Met:
		return "met"
	case r.Skipped != "" && r.target.maxModel == 0:
		return "skipped"
	}
	return "not met"
}

// WriteCostText prints the cost table, then each row's note and what kept
// a row from being measured.
func WriteCostText(w io.Writer, rows []CostRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "cost\treal server\tmpmlab\tratio\ttarget\tmet")
	for _, r := range rows {
		ratio := "-"
		if r.Ratio > 0 && r.Error == "" {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Cost, r.cell(r.realLabel, r.RealValue, r.RealDetail, r.Skipped != ""),
			r.cell(r.modelLabel, r.ModelValue, r.ModelDetail, false), ratio, r.Target, r.verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var servers []string
	for _, r := range rows {
		if r.Skipped == "" && !slices.Contains(servers, r.Real) {
			servers = append(servers, r.Real)
		}
	}
	fmt.Fprintf(w, "real servers: %s\n", strings.Join(servers, "; "))
	for _, r := range rows {
		line := r.Name + ": " + r.Note
		if r.Skipped != "" {
			line += "\n  real side skipped: " + r.Skipped
		}
		if r.Error != "" {
			line += "\n  error: " + indent(r.Error)
		}
		fmt.Fprintln(w, line)
	}
	_, err := fmt.Fprintln(w, "\nOne run on this machine: CPU and latency rise with whatever else runs on it. "+
		"The targets are issue 21's and informational: not meeting one does not fail the command; not measuring does.")
	return err
}

// cell is one side's figure in the table: the server, its value and its
// detail.
func (r CostRow) cell(name string, v float64, detail string, skipped bool) string {
	if skipped || r.Error != "" {
		return name + " -"
	}
	if detail != "" {
		return name + " " + detail
	}
	return name + " " + formatValue(v, r.Unit)
}

// WriteCostJSON prints rows as {"cost": [...]}.
func WriteCostJSON(w io.Writer, rows []CostRow) error {
	if rows == nil {
		rows = []CostRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string][]CostRow{"cost": rows})
}

// formatValue prints v in unit: microseconds and MiB with one decimal,
// bytes whole.
func formatValue(v float64, unit string) string {
	if unit == "B" {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// mib prints KiB as MiB with one decimal.
func mib(kb int) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// idleDetail is the idle-connection cell: RSS and PSS per connection and
// the growth they come from.
func idleDetail(s *sideCost, rss, pss float64) string {
	return fmt.Sprintf("%.0f B (%d connections: RSS %+.1f MB; PSS %.0f B each)", rss, s.IdleOpened,
		float64(s.IdleAfter.RSS-s.IdleBefore.RSS)*1024/1e6, pss)
}

func ratioText(model, real float64) string {
	if real == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", model/real)
}
