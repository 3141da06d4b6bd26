package live

import (
	"strconv"
	"strings"
)

// latencyLabels returns the axis labels of latency bounds (ms, increasing;
// one < 0 is the unbounded last bucket, "more"): each with its unit ("50
// ms", "2 s") and with the fewest decimals that keep it apart from its
// neighbours, so latencies clustered near a second read "998 ms, 1.01 s,
// 1.02 s", not "1s 1s 1s".
func latencyLabels(bounds []float64) []string {
	extra := make([]int, len(bounds))
	out := make([]string, len(bounds))
	for round := 0; ; round++ {
		for i, b := range bounds {
			out[i] = latencyLabel(b, extra[i])
		}
		same := false
		for i := 1; i < len(out); i++ {
			if out[i] == out[i-1] {
				same = true
				extra[i-1] = round + 1
				extra[i] = round + 1
			}
		}
		if !same || round == 3 {
			return out
		}
	}
}

// latencyLabel formats ms in ms below a second and in s above, with extra
// decimals beyond the few its size needs; trailing zeros are dropped.
func latencyLabel(ms float64, extra int) string {
	if ms < 0 {
		return "more"
	}
	v, unit := ms, " ms"
	if ms >= 999.5 {
		v, unit = ms/1000, " s"
	}
	prec := extra
	switch {
	case v < 1:
		prec += 2
	case v < 10:
		prec++
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}
