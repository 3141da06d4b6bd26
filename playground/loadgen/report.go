package loadgen

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// barWidth is the length, in characters, of the longest histogram bar.
const barWidth = 40

// WriteText writes s as a human summary in the style of hey and oha: totals,
// requests per second, latency percentiles, an ASCII histogram, the status
// code distribution and the error kinds. title heads it, if not empty.
//
//	Summary: reactor
//	  Requests:      1000 (succeeded 1000, errors 0)
//	  Total:         1.204s
//	  Requests/sec:  830.6
//	  ...
//	Latency histogram:
//	     1.20ms [   12] ■■
//	     2.31ms [  240] ■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■
func WriteText(w io.Writer, s *Summary, title string) error {
	var b bytes.Buffer
	if title != "" {
		fmt.Fprintf(&b, "Summary: %s\n", title)
	} else {
		b.WriteString("Summary:\n")
	}
	fmt.Fprintf(&b, "  Requests:      %d (succeeded %d, errors %d)\n", s.Requests, s.Succeeded, s.Errors)
	fmt.Fprintf(&b, "  Total:         %s\n", FormatDuration(s.Duration))
	fmt.Fprintf(&b, "  Requests/sec:  %.1f\n", s.RPS)
	fmt.Fprintf(&b, "  Bytes read:    %d\n", s.BytesRead)

	b.WriteString("\nLatency:\n")
	l := s.Latency
	for _, row := range []struct {
		name string
		d    time.Duration
	}{{"min", l.Min}, {"mean", l.Mean}, {"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99}, {"max", l.Max}} {
		fmt.Fprintf(&b, "  %-5s %10s\n", row.name, FormatDuration(row.d))
	}

	if len(s.Histogram) > 0 {
		b.WriteString("\nLatency histogram:\n")
		top := 0
		for _, h := range s.Histogram {
			top = max(top, h.Count)
		}
		width := len(fmt.Sprint(top))
		for _, h := range s.Histogram {
			bar := 0
			if top > 0 {
				bar = h.Count * barWidth / top
			}
			if h.Count > 0 {
				bar = max(bar, 1)
			}
			fmt.Fprintf(&b, "  %10s [%*d] %s\n", FormatDuration(h.Le), width, h.Count, strings.Repeat("■", bar))
		}
	}

	if len(s.StatusCodes) > 0 {
		b.WriteString("\nStatus codes:\n")
		for _, code := range slices.Sorted(maps.Keys(s.StatusCodes)) {
			fmt.Fprintf(&b, "  [%d] %d responses\n", code, s.StatusCodes[code])
		}
	}

	if len(s.ErrorKinds) > 0 {
		b.WriteString("\nErrors:\n")
		kinds := slices.SortedFunc(maps.Keys(s.ErrorKinds), func(a, c string) int {
			return cmp.Or(cmp.Compare(s.ErrorKinds[c], s.ErrorKinds[a]), cmp.Compare(a, c))
		})
		for _, k := range kinds {
			fmt.Fprintf(&b, "  [%s] %d\n", k, s.ErrorKinds[k])
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteTable writes a side-by-side comparison, one row per run: names[i] and
// sums[i]. A nil summary (a run that failed to start) shows as dashes.
//
//	name     req/s   p50     p90     p99      max      errors  non-2xx
//	process  412.0   2.31ms  4.02ms  9.87ms   12.01ms  0       0
//	reactor  3910.5  0.98ms  1.50ms  310.2ms  402.8ms  0       0
func WriteTable(w io.Writer, names []string, sums []*Summary) error {
	if len(names) != len(sums) {
		return fmt.Errorf("loadgen: WriteTable: %d names for %d summaries", len(names), len(sums))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "name\treq/s\tp50\tp90\tp99\tmax\terrors\tnon-2xx")
	for i, s := range sums {
		if s == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\n", names[i])
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%d\t%d\n", names[i], s.RPS,
			FormatDuration(s.Latency.P50), FormatDuration(s.Latency.P90), FormatDuration(s.Latency.P99),
			FormatDuration(s.Latency.Max), s.Errors, non2xx(s))
	}
	return tw.Flush()
}

// non2xx counts responses whose status is not 2xx (errors are not responses).
func non2xx(s *Summary) int {
	n := 0
	for code, c := range s.StatusCodes {
		if code < 200 || code >= 300 {
			n += c
		}
	}
	return n
}

// FormatDuration prints d with three or four significant digits in a unit that
// suits it, so columns of latencies stay short: 850ns, 12.3µs, 4.56ms, 1.204s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", int64(d))
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}
