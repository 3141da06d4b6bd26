package stream

import "testing"

// Memory per connection is the PSS growth over the connections held, and
// n/a below MinConnsPerConn.
func TestPerConnKB(t *testing.T) {
	for _, c := range []struct {
		name                  string
		before, during, conns int
		want                  float64
	}{
		{"reactor-like", 40_000, 240_000, 10_000, 20},
		{"fractional", 1000, 1150, 100, 1.5},
		{"at the threshold", 0, 100 * MinConnsPerConn, MinConnsPerConn, 100},
		{"too few held", 40_000, 80_000, MinConnsPerConn - 1, -1},
		{"none held", 40_000, 40_000, 0, -1},
		{"shrank", 50_000, 40_000, 1000, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := PerConnKB(c.before, c.during, c.conns); got != c.want {
				t.Errorf("PerConnKB(%d, %d, %d) = %v, want %v", c.before, c.during, c.conns, got, c.want)
			}
		})
	}
}
