package guest

import (
	"strings"
	"testing"
)

// sdkCall stands for Block or Compute: callerPos names the line that
// called it.
func sdkCall() string { return callerPos() }

// TestCallerPos: each call site gets its own line, the first time and
// from the cache after, where each is once.
func TestCallerPos(t *testing.T) {
	for i := 0; i < 3; i++ {
		a := sdkCall() // line 16
		b := sdkCall() // line 17
		if !strings.HasSuffix(a, "callerpos_test.go:16") || !strings.HasSuffix(b, "callerpos_test.go:17") {
			t.Fatalf("round %d: positions %q and %q, want callerpos_test.go:16 and :17", i, a, b)
		}
	}
	cached := 0
	positions.Range(func(_, pos any) bool {
		if strings.Contains(pos.(string), "callerpos_test.go:1") {
			cached++
		}
		return true
	})
	if cached != 2 {
		t.Errorf("%d of the two call sites' positions are cached", cached)
	}
}
