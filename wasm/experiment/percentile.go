package experiment

import (
	"cmp"
	"math"
)

// Percentile is the nearest-rank p-quantile (p in 0..1) of sorted: the
// smallest value that at least p of all values are at or below. It is zero
// for no values. Every percentile mpmlab reports — the load generator's,
// the playground's live stats, the workers' phases in bench, the page's
// browser runs — is this one.
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
