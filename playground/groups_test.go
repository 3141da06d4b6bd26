package playground

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// figures returns every duration a sentence states ("412 ms", "1.2 s").
var durationInSentence = regexp.MustCompile(`\d+(\.\d+)? m?s\b`)

// Each kind of group sentence states the run's own figures and nothing
// else: every duration in it is one of the figures it was made from.
func TestGroupSentenceStatesTheRunsFigures(t *testing.T) {
	sum := func(requests, succeeded int, p99 time.Duration) *loadgen.Summary {
		s := &loadgen.Summary{Requests: requests, Succeeded: succeeded, Latency: loadgen.LatencyStats{P99: p99},
			StatusCodes: map[int]int{200: succeeded}, ErrorKinds: map[string]int{}}
		if failed := requests - succeeded; failed > 0 {
			s.StatusCodes[502] = failed
		}
		return s
	}
	hold := &stream.Hold{MS: 201.4, Group: "slow", Method: "GET", Path: "/?ms=200", Where: "main.go:22"}
	reactor := &stream.Result{Model: "reactor", LongestHold: hold}
	thread := &stream.Result{Model: "thread", Groups: []stream.GroupResult{{Name: "fast", Summary: sum(900, 900, 2100*time.Microsecond)}}}

	for _, tc := range []struct {
		name  string
		r     *stream.Result
		g     stream.GroupResult
		prev  *stream.Result
		want  []string // phrases that must appear
		state []float64
	}{{
		name: "innocent behind a hold",
		r:    reactor,
		g:    stream.GroupResult{Name: "fast", Summary: sum(800, 800, 412*time.Millisecond), WaitP99MS: 405, ServiceP99MS: 0.3},
		prev: thread,
		want: []string{"fast answered p99 412 ms", "(2.1 ms under thread)", "waited p99 405 ms for the loop behind slow, whose GET /?ms=200 held it 201 ms at main.go:22"},
		// 412 (p99), 2.1 (thread's p99), 405 (wait), 201 (hold)
		state: []float64{412, 2.1, 405, 201},
	}, {
		name:  "the holder itself",
		r:     reactor,
		g:     stream.GroupResult{Name: "slow", Summary: sum(16, 16, 205*time.Millisecond), WaitP99MS: 1.2, ServiceP99MS: 201.4},
		want:  []string{"slow answered p99 205 ms", "in the server it waited p99 1.2 ms and its handler ran p99 201 ms"},
		state: []float64{205, 1.2, 201},
	}, {
		name:  "a group that waited for its own requests",
		r:     &stream.Result{Model: "reactor", LongestHold: &stream.Hold{MS: 120, Group: "only", Method: "GET", Path: "/?ms=120"}},
		g:     stream.GroupResult{Name: "only", Summary: sum(50, 50, 600*time.Millisecond), WaitP99MS: 480, ServiceP99MS: 120},
		want:  []string{"behind its own requests, whose GET /?ms=120 held it 120 ms"},
		state: []float64{600, 480, 120},
	}, {
		name:  "short holds are not blamed",
		r:     &stream.Result{Model: "reactor", LongestHold: &stream.Hold{MS: 3, Group: "slow", Method: "GET", Path: "/?ms=3"}},
		g:     stream.GroupResult{Name: "fast", Summary: sum(100, 100, 30*time.Millisecond), WaitP99MS: 25, ServiceP99MS: 0.5},
		want:  []string{"in the server it waited p99 25 ms and its handler ran p99 0.5 ms"},
		state: []float64{30, 25, 0.5},
	}, {
		name:  "failures",
		r:     &stream.Result{Model: "process"},
		g:     stream.GroupResult{Name: "innocent", Summary: sum(10, 7, 15*time.Millisecond), WaitP99MS: -1, ServiceP99MS: -1},
		want:  []string{"innocent answered p99 15 ms", "3 of 10 failed (502 ×3)"},
		state: []float64{15},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := groupSentence(tc.r, &tc.g, tc.prev)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("sentence %q\nlacks %q", got, w)
				}
			}
			stated := durationInSentence.FindAllString(got, -1)
			if len(stated) != len(tc.state) {
				t.Fatalf("sentence %q states %d durations %v, want %d, the figures %v", got, len(stated), stated, len(tc.state), tc.state)
			}
			for i, s := range stated {
				if want := fmtMS(tc.state[i]); s != want {
					t.Errorf("duration %d of %q is %q, want the figure %v as %q", i, got, s, tc.state[i], want)
				}
			}
		})
	}
}

// The pool's phrase states the pool's own figures.
func TestPoolPhrase(t *testing.T) {
	for _, tc := range []struct {
		p    poolTally
		want string
	}{
		{poolTally{threads: map[int]int{0: 4}, waits: []int64{0, 0, 0, 0, 200e6, 201e6, 202e6, 203e6}, queuePeak: 4},
			"the thread pool (4 threads a process) ran 8 tasks, up to 4 waiting in its queue (p99 203 ms)"},
		{poolTally{threads: map[int]int{0: 4, 1: 4}, waits: []int64{1e3, 2e3}},
			"the thread pool (4 threads a process) ran 2 tasks, none waiting for a thread"},
		{poolTally{threads: map[int]int{0: 4}, waits: []int64{0, 0, 0, 0, 0, 0}, queuePeak: 2, overflows: 2},
			"the thread pool (4 threads a process) ran 6 tasks, up to 2 waiting in its queue (p99 0.0 ms); 2 tasks refused: its queue was full"},
	} {
		if got := poolPhrase(newPoolResult(&tc.p)); got != tc.want {
			t.Errorf("phrase = %q\nwant      %q", got, tc.want)
		}
	}
	if newPoolResult(&poolTally{}) != nil {
		t.Error("a load that used no pool reports one")
	}
}
