package experiment

import (
	"cmp"
	"math"
)

// Percentile is the nearest-rank p-quantile (p in 0..1) of sorted: the
// smallest value that at least p of all values are at or below. It is zero
// for no values. Every percentile mpmlab reports as a figure — the load
// generator's, the playground's live stats and summaries, the workers'
// phases in bench, the loop lag of /server-status, the page's browser
// runs — is this one. (The latency histogram's p50/p90/p99 markers are
// drawn where the chart's buckets place them, live.Percentile: an
// estimate, never printed as a number.)
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
