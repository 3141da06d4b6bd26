package live

import (
	"slices"
	"strings"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// histogramAxis returns the labels under a histogram's bars.
func histogramAxis(w, h float64, buckets []stream.Bucket) []string {
	var out []string
	for _, l := range Histogram(w, h, buckets, 0, 0, 0).Labels {
		if l.Y == h-padB+14 {
			out = append(out, l.Text)
		}
	}
	return out
}

func TestHistogramAxisLabels(t *testing.T) {
	near := func(les ...float64) []stream.Bucket {
		var bs []stream.Bucket
		for _, le := range les {
			bs = append(bs, stream.Bucket{LeMS: le, Count: 3})
		}
		return bs
	}
	cases := []struct {
		name    string
		buckets []stream.Bucket
		want    []string // nil: only distinct, with units
	}{
		// The live histogram's fixed bounds (experiment.HistogramBoundsMS).
		{"live bounds", near(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, -1),
			[]string{"1 ms", "2 ms", "5 ms", "10 ms", "20 ms", "50 ms", "100 ms", "200 ms", "500 ms", "1 s", "2 s", "5 s", "10 s", "30 s", "60 s", "more"}},
		{"below a millisecond", near(0.05, 0.12, 0.3, 0.75),
			[]string{"0.05 ms", "0.12 ms", "0.3 ms", "0.75 ms"}},
		// A summary's 12 log-spaced buckets between 950 ms and 1.1 s.
		{"near a second", near(962, 974, 986, 998, 1010, 1023, 1035, 1048, 1061, 1074, 1087, 1100),
			[]string{"962 ms", "974 ms", "986 ms", "998 ms", "1.01 s", "1.02 s", "1.03 s", "1.05 s", "1.06 s", "1.07 s", "1.09 s", "1.1 s"}},
		{"near ten seconds", near(9990, 9995, 10000, 10005), nil},
	}
	for _, c := range cases {
		got := histogramAxis(1000, 120, c.buckets)
		if c.want != nil && !slices.Equal(got, c.want) {
			t.Errorf("%s: labels %q\nwant %q", c.name, got, c.want)
		}
		for i, l := range got {
			if l != "more" && !strings.HasSuffix(l, " ms") && !strings.HasSuffix(l, " s") {
				t.Errorf("%s: label %q has no unit", c.name, l)
			}
			if i > 0 && l == got[i-1] {
				t.Errorf("%s: labels %q repeat %q", c.name, got, l)
			}
		}
	}
	// A narrow chart labels every other bucket, still with units.
	if got := histogramAxis(300, 120, near(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)); len(got) == 0 || len(got) > 6 || got[len(got)-1] != "1 s" {
		t.Errorf("narrow chart: labels %q, want at most 6 ending with 1 s", got)
	}
}
