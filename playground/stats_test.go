package playground

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// phraseKind is one kind of phrase of a model's sentence: the pattern that
// recognises it, and a check of the numbers it states against the result
// it was made from.
type phraseKind struct {
	name  string
	re    *regexp.Regexp
	check func(m []string, r *stream.Result) error
}

func atoi(s string) int {
	if s == "once" || s == "" {
		return 1
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, " times"))
	if err != nil {
		return -1
	}
	return n
}

// sameMS reports whether a stated duration is the figure as fmtMS prints it.
func sameMS(stated string, figure float64) error {
	if stated != fmtMS(figure) {
		return fmt.Errorf("states %q, the figure is %v (%q)", stated, figure, fmtMS(figure))
	}
	return nil
}

func sameInt(what string, stated string, figure int) error {
	if atoi(stated) != figure {
		return fmt.Errorf("states %s %q, the figure is %d", what, stated, figure)
	}
	return nil
}

const dur = `(\d+(?:\.\d+)? m?s)`

var phraseKinds = []phraseKind{{
	name: "lanes",
	re:   regexp.MustCompile(`^(?:(\d+) threads? in )?(\d+) process(?:es)? served one (connection|request) each \((?:(\d+)|all (\d+)|both|)\s?busy at the peak\)(?:, their listeners holding the connections kept alive between requests \((\d+) requests? came on one\)|, their listeners holding the idle kept-alive connections, but no request came on one)?$`),
	check: func(m []string, r *stream.Result) error {
		lanes := r.Workers
		if m[1] != "" {
			lanes = r.Workers * r.Lanes
			if err := sameInt("threads", m[1], lanes); err != nil {
				return err
			}
		}
		if err := sameInt("processes", m[2], r.Workers); err != nil {
			return err
		}
		if strings.Contains(m[0], "listeners") && !r.KeepAlive {
			return fmt.Errorf("names listeners holding connections on a run without keep-alive")
		}
		if m[6] != "" || r.KeptAlive > 0 {
			if err := sameInt("requests on a kept-alive connection", m[6], r.KeptAlive); err != nil {
				return err
			}
		}
		busy := m[4] + m[5]
		if busy == "" {
			busy = map[bool]string{true: "1", false: "2"}[lanes == 1]
		}
		return sameInt("busy", busy, r.BusyPeak)
	},
}, {
	name: "loop busy",
	re:   regexp.MustCompile(`^(?:the loop was|the (\d+) loops were) busy (\d+)% of the time \(loop lag p99 ` + dur + ` over the whole load\)$`),
	check: func(m []string, r *stream.Result) error {
		if m[1] != "" {
			if err := sameInt("loops", m[1], r.Workers); err != nil {
				return err
			}
		}
		if err := sameInt("busy %", m[2], int(math.Round(100*r.LoopUtil))); err != nil {
			return err
		}
		return sameMS(m[3], r.LagP99MS)
	},
}, {
	name: "hold",
	re:   regexp.MustCompile(`^it was held ` + dur + ` by `),
	check: func(m []string, r *stream.Result) error {
		return sameMS(m[1], r.LongestHold.MS)
	},
}, {
	name: "held for the whole load",
	re:   regexp.MustCompile(`^the (?:loop was|\d+ loops were) held for the whole ` + dur + ` load: it sent no lag sample$`),
	check: func(m []string, r *stream.Result) error {
		if r.Deaths > 0 {
			return fmt.Errorf("says the loop was held the whole load, but it died %d times", r.Deaths)
		}
		return sameMS(m[1], ms(r.Summary.Duration))
	},
}, {
	name: "held until killed",
	re:   regexp.MustCompile(`^the (?:loop was|\d+ loops were) held until the supervisor killed it: it sent no lag sample$`),
	check: func(m []string, r *stream.Result) error {
		if r.Kills == 0 || r.Kills != r.Deaths {
			return fmt.Errorf("says the supervisor killed the held loop: %d kills of %d deaths", r.Kills, r.Deaths)
		}
		return nil
	},
}, {
	name: "dead loop",
	re:   regexp.MustCompile(`^the (?:loop was|\d+ loops were) never alive and turning for a whole 100 ms lag window: it sent no lag sample, dying (once|\d+ times)$`),
	check: func(m []string, r *stream.Result) error {
		return sameInt("deaths", m[1], r.Deaths)
	},
}, {
	name: "accept queue",
	re:   regexp.MustCompile(`^(?:(\d+) connections? waited in the accept queue \(peak\)|no connection waited in the accept queue)$`),
	check: func(m []string, r *stream.Result) error {
		if m[1] == "" {
			m[1] = "0"
		}
		return sameInt("queue peak", m[1], r.QueuePeak)
	},
}, {
	name: "deaths",
	re:   regexp.MustCompile(`^a (?:process|loop) died (once|\d+ times)(?:, each time)? (?:taking its (\d+) threads with it|dropping every connection it held|taking only its own connection)(?: \((\d+) killed by the supervisor\))?(?:: .*)?$`),
	check: func(m []string, r *stream.Result) error {
		if err := sameInt("deaths", m[1], r.Deaths); err != nil {
			return err
		}
		if m[2] != "" {
			if err := sameInt("threads", m[2], r.Lanes); err != nil {
				return err
			}
		}
		if m[3] != "" || r.Kills > 0 {
			return sameInt("kills", m[3], r.Kills)
		}
		return nil
	},
}, {
	name: "failures",
	re:   regexp.MustCompile(`^(\d+) of (\d+) requests failed \([^)]*\)(?:, (?:all (\d+)|(\d+) of them|(in)|(none of them)|(both)) in (?:flight in )?a worker that died)?(?:, from keep-alive pinning: .*)?$`),
	check: func(m []string, r *stream.Result) error {
		s := r.Summary
		failed := s.Requests - s.Succeeded
		if err := sameInt("failed", m[1], failed); err != nil {
			return err
		}
		if err := sameInt("requests", m[2], s.Requests); err != nil {
			return err
		}
		switch {
		case r.Deaths == 0:
			if m[3]+m[4]+m[5]+m[6]+m[7] != "" {
				return fmt.Errorf("blames deaths, but none died")
			}
		case m[3] != "":
			return sameInt("death-failed", m[3], min(failed, r.DeathFailed))
		case m[4] != "":
			return sameInt("death-failed", m[4], r.DeathFailed)
		case m[5] != "":
			return sameInt("death-failed", "1", r.DeathFailed)
		case m[6] != "":
			return sameInt("death-failed", "0", r.DeathFailed)
		case m[7] != "":
			return sameInt("death-failed", "2", min(failed, r.DeathFailed))
		default:
			return fmt.Errorf("workers died %d times, but the failures do not say what that did", r.Deaths)
		}
		return nil
	},
}, {
	name: "p50 parts",
	re:   regexp.MustCompile(`^p50 ` + dur + `(?: ≈|, and the median request that reported its phases took ` + dur + ` =) ` + dur + ` in the accept queue and I/O \+ ` + dur + ` waiting (?:for the loop|in the worker) \+ ` + dur + ` in the handler$`),
	check: func(m []string, r *stream.Result) error {
		p := r.P50Parts
		for _, c := range []struct {
			stated string
			figure float64
		}{{m[1], ms(r.Summary.Latency.P50)}, {m[3], p.QueueMS}, {m[4], p.WaitMS}, {m[5], p.ServiceMS}} {
			if err := sameMS(c.stated, c.figure); err != nil {
				return err
			}
		}
		sum := p.QueueMS + p.WaitMS + p.ServiceMS
		if m[2] == "" {
			// "≈": the parts account for the p50.
			if p50 := ms(r.Summary.Latency.P50); math.Abs(sum-p50) > partsFit*p50 {
				return fmt.Errorf("parts sum to %.2f ms, more than %.0f%% from the p50 %.2f ms", sum, 100*partsFit, p50)
			}
			return nil
		}
		if err := sameMS(m[2], p.LatencyMS); err != nil {
			return err
		}
		if math.Abs(sum-p.LatencyMS) > 0.05 {
			return fmt.Errorf("parts sum to %.2f ms, not the %v ms they are said to make", sum, p.LatencyMS)
		}
		return nil
	},
}, {
	name: "p99",
	re:   regexp.MustCompile(`^p99 ` + dur + `(?:,| \(| but|$)`),
	check: func(m []string, r *stream.Result) error {
		return sameMS(m[1], ms(r.Summary.Latency.P99))
	},
}, {
	name: "pool",
	re:   regexp.MustCompile(`^the thread pool `),
	check: func(m []string, r *stream.Result) error {
		if r.Pool == nil {
			return fmt.Errorf("names a pool the run did not use")
		}
		return nil // TestPoolPhrase checks its figures
	},
}}

// Each kind of sentence states the run's own figures: every phrase of it
// is of a known kind, and the numbers it states are the result's fields.
func TestSentenceStatesTheRunsFigures(t *testing.T) {
	sum := func(requests, succeeded int, p50, p99 time.Duration) *loadgen.Summary {
		s := &loadgen.Summary{Requests: requests, Succeeded: succeeded, Duration: 4100 * time.Millisecond,
			Latency:     loadgen.LatencyStats{P50: p50, P99: p99},
			StatusCodes: map[int]int{200: succeeded}, ErrorKinds: map[string]int{}}
		if failed := requests - succeeded; failed > 0 {
			s.StatusCodes[502] = failed
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		r     *stream.Result
		kinds []string // the kinds of phrase it must have
		not   []string // phrases it must not say
	}{{
		name: "reactor on cpu: the p50 accounted for",
		r: &stream.Result{Model: "reactor", Workers: 1, Lanes: 1, LoopUtil: 0.48, LagP99MS: 234, QueuePeak: 18,
			LongestHold: &stream.Hold{MS: 369, Method: "GET", Path: "/?ms=200", Where: "main.go:35"},
			WaitP50MS:   152, ServiceP50MS: 51,
			P50Parts: &stream.LatencyParts{Requests: 12, LatencyMS: 770, QueueMS: 568, WaitMS: 151, ServiceMS: 51},
			Summary:  sum(200, 200, 776*time.Millisecond, 1200*time.Millisecond)},
		kinds: []string{"loop busy", "hold", "accept queue", "p50 parts", "p99"},
		not:   []string{"waited p50"},
	}, {
		name: "parts of requests away from the p50",
		r: &stream.Result{Model: "thread", Workers: 1, Lanes: 16, BusyPeak: 5, LoopUtil: -1,
			P50Parts: &stream.LatencyParts{Requests: 1, LatencyMS: 9, QueueMS: 6, WaitMS: 1, ServiceMS: 2},
			Summary:  sum(200, 200, 4300*time.Microsecond, 225*time.Millisecond)},
		kinds: []string{"lanes", "accept queue", "p50 parts", "p99"},
	}, {
		name: "event without keep-alive: no listener holding anything",
		r: &stream.Result{Model: "event", Workers: 1, Lanes: 4, BusyPeak: 3, LoopUtil: -1,
			Summary: sum(100, 100, 3*time.Millisecond, 9*time.Millisecond)},
		kinds: []string{"lanes", "accept queue", "p99"},
		not:   []string{"listener"},
	}, {
		name: "event with keep-alive, no connection reused",
		r: &stream.Result{Model: "event", Workers: 2, Lanes: 2, BusyPeak: 4, KeepAlive: true, LoopUtil: -1, QueuePeak: 4,
			Summary: sum(36, 36, 59*time.Millisecond, 174*time.Millisecond)},
		kinds: []string{"lanes", "accept queue", "p99"},
	}, {
		name: "event with keep-alive",
		r: &stream.Result{Model: "event", Workers: 2, Lanes: 4, BusyPeak: 8, KeepAlive: true, KeptAlive: 180, LoopUtil: -1, QueuePeak: 2,
			Summary: sum(200, 200, 3*time.Millisecond, 9*time.Millisecond)},
		kinds: []string{"lanes", "accept queue", "p99"},
	}, {
		name: "crash under process: every failure explained",
		r: &stream.Result{Model: "process", Workers: 4, Lanes: 1, BusyPeak: 2, LoopUtil: -1, Deaths: 9, DeathFailed: 10,
			DeathCause: "process 2 crashed: panic: crash requested", Summary: sum(10, 0, 0, 0)},
		kinds: []string{"lanes", "accept queue", "deaths", "failures"},
	}, {
		name: "crash under thread: some failures the deaths did not take",
		r: &stream.Result{Model: "thread", Workers: 1, Lanes: 4, BusyPeak: 4, LoopUtil: -1, Deaths: 3, DeathFailed: 6, QueuePeak: 3,
			DeathCause: "thread 0.0 crashed: panic: crash requested", Summary: sum(88, 80, 3*time.Millisecond, 3700*time.Millisecond)},
		kinds: []string{"lanes", "accept queue", "deaths", "failures", "p99"},
	}, {
		name: "a loop that kept dying sent no lag sample",
		r: &stream.Result{Model: "reactor", Workers: 1, Lanes: 1, LoopUtil: -1, Deaths: 6, DeathFailed: 10, QueuePeak: 20,
			DeathCause: "loop 0 crashed: panic: crash requested", Summary: sum(10, 0, 0, 0)},
		kinds: []string{"dead loop", "accept queue", "deaths", "failures"},
		not:   []string{"held for the whole"},
	}, {
		name: "a loop held until the guard killed it",
		r: &stream.Result{Model: "reactor", Workers: 1, Lanes: 1, LoopUtil: -1, Deaths: 1, Kills: 1, DeathFailed: 1,
			DeathCause: "runaway", Summary: sum(12, 1, 1000*time.Millisecond, 1000*time.Millisecond)},
		kinds: []string{"held until killed", "deaths", "failures", "p99"},
	}, {
		name: "a loop held the whole load",
		r: &stream.Result{Model: "reactor", Workers: 1, Lanes: 1, LoopUtil: -1,
			Summary: sum(12, 0, 0, 0)},
		kinds: []string{"held for the whole load", "failures"},
	}, {
		name: "event timeouts are not blamed on keep-alive pinning",
		r: &stream.Result{Model: "event", Workers: 1, Lanes: 4, BusyPeak: 4, KeepAlive: true, KeptAlive: 30, LoopUtil: -1, QueuePeak: 6,
			Pinning: &stream.Pinning{Lanes: 4, Idle: 3, Queue: 6},
			Summary: &loadgen.Summary{Requests: 200, Succeeded: 194, Errors: 6, Duration: time.Second, ErrorKinds: map[string]int{"timeout": 6},
				StatusCodes: map[int]int{200: 194}, Latency: loadgen.LatencyStats{P50: time.Millisecond, P99: 398 * time.Millisecond}}},
		kinds: []string{"lanes", "accept queue", "failures", "p99"},
		not:   []string{"pinning"},
	}, {
		name: "one death, two failures",
		r: &stream.Result{Model: "event", Workers: 1, Lanes: 4, BusyPeak: 2, LoopUtil: -1, Deaths: 1, DeathFailed: 2, QueuePeak: 7,
			DeathCause: "runaway", Summary: sum(41, 39, 9*time.Millisecond, time.Second)},
		kinds: []string{"lanes", "accept queue", "deaths", "failures", "p99"},
	}, {
		name: "a death that failed nothing",
		r: &stream.Result{Model: "thread", Workers: 1, Lanes: 4, BusyPeak: 4, LoopUtil: -1, Deaths: 1,
			Summary: &loadgen.Summary{Requests: 20, Succeeded: 19, Errors: 1, Duration: time.Second, ErrorKinds: map[string]int{"connection reset": 1},
				Latency: loadgen.LatencyStats{P50: time.Millisecond, P99: 2 * time.Millisecond}}},
		kinds: []string{"lanes", "accept queue", "deaths", "failures", "p99"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := sentence(tc.r, nil)
			seen := map[string]bool{}
			for _, phrase := range strings.Split(s, "; ") {
				known := false
				for _, k := range phraseKinds {
					m := k.re.FindStringSubmatch(phrase)
					if m == nil {
						continue
					}
					known, seen[k.name] = true, true
					if err := k.check(m, tc.r); err != nil {
						t.Errorf("%s phrase %q: %v", k.name, phrase, err)
					}
					break
				}
				if !known {
					t.Errorf("phrase %q of %q is of no kind the test checks", phrase, s)
				}
			}
			for _, k := range tc.kinds {
				if !seen[k] {
					t.Errorf("sentence %q lacks a %s phrase", s, k)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(s, n) {
					t.Errorf("sentence %q says %q", s, n)
				}
			}
		})
	}
}

// The median request's parts come from the responses near the p50 and sum
// to their mean latency; the queue is what the server's phases leave out.
func TestLatencyParts(t *testing.T) {
	l := newLiveStats([]string{"fast", "slow"})
	if q, p := l.latencyParts(time.Millisecond); q != -1 || p != nil {
		t.Fatalf("no phases: %v %+v, want -1 and nil", q, p)
	}
	msd := func(v float64) int64 { return int64(v * 1e6) }
	// 9 requests: latency 100..900 ms, each with wait 10% and service 20%
	// of it; the p50 is 500 ms, and only it is within 5%.
	for i := 1; i <= 9; i++ {
		lat := float64(100 * i)
		l.phases = append(l.phases, phaseSample{msd(lat), msd(lat / 10), msd(lat / 5), 0})
	}
	q, p := l.latencyParts(500 * time.Millisecond)
	if q != 350 {
		t.Errorf("queue p50 %v, want 350 (70%% of 500)", q)
	}
	want := stream.LatencyParts{Requests: 1, LatencyMS: 500, QueueMS: 350, WaitMS: 50, ServiceMS: 100}
	if p == nil || *p != want {
		t.Errorf("parts %+v, want %+v", p, want)
	}
	// No response near the p50 (failures made it): the median of those
	// that reported.
	_, p = l.latencyParts(5 * time.Millisecond)
	if p == nil || *p != want {
		t.Errorf("parts %+v, want the median one's %+v", p, want)
	}
	// A group's parts are its own requests', around its own p50.
	for range 3 {
		l.phases = append(l.phases, phaseSample{msd(2000), msd(1500), msd(100), 1})
	}
	_, p = l.latencyParts(500 * time.Millisecond)
	if p == nil || *p != want {
		t.Errorf("with the slow group's requests too, the run's parts are %+v, want %+v", p, want)
	}
	i, ok := l.groupIndex("slow")
	if !ok {
		t.Fatal("no group slow")
	}
	_, p = l.partsOf(2000*time.Millisecond, i)
	slow := stream.LatencyParts{Requests: 3, LatencyMS: 2000, QueueMS: 400, WaitMS: 1500, ServiceMS: 100}
	if p == nil || *p != slow {
		t.Errorf("the slow group's parts %+v, want %+v", p, slow)
	}
	i, _ = l.groupIndex("fast")
	if _, p = l.partsOf(500*time.Millisecond, i); p == nil || *p != want {
		t.Errorf("the fast group's parts %+v, want %+v", p, want)
	}
	if _, ok := l.groupIndex("none"); ok {
		t.Error("a group of no such name has an index")
	}
}

// The tracer counts, from the workers' request events, what the stats
// ticks can miss: requests in flight at once (a crashing request's lane is
// busy only between two ticks), requests on kept-alive connections, and
// the failed requests of workers that died.
func TestTracerCountsRequests(t *testing.T) {
	tr := newTracer(newOutbox())
	tr.setLoading(true)
	ev := func(kind string, pid int, conn, req uint64, status int, cause, group string) {
		tr.onEvent(stream.Event{Kind: kind, PID: pid, Conn: conn, Req: req, Status: status, Cause: cause, Group: group})
	}
	// pid 1: two requests on one connection, one after the other.
	ev(stream.EventReqStart, 1, 1, 1, 0, "", "innocent")
	ev(stream.EventReqEnd, 1, 1, 1, 200, "", "innocent")
	ev(stream.EventReqStart, 1, 1, 2, 0, "", "innocent")
	// pid 2: a crash and a sibling in flight with it; both fail, the
	// process dies.
	ev(stream.EventReqStart, 2, 1, 1, 0, "", "crash")
	ev(stream.EventReqStart, 2, 2, 2, 0, "", "innocent")
	ev(stream.EventReqEnd, 2, 1, 1, 502, "thread 0.0 crashed", "crash")
	ev(stream.EventReqEnd, 2, 2, 2, 502, "thread 0.1 died with its process", "innocent")
	tr.onEvent(stream.Event{Kind: stream.EventExit, PID: 2, Cause: "crashed"})
	// pid 3: a 502 in a process that lives on is not a death's.
	ev(stream.EventReqStart, 3, 1, 1, 0, "", "innocent")
	ev(stream.EventReqEnd, 3, 1, 1, 502, "mpmlab: thread 0.0: stream closed", "innocent")
	// pid 4 dies with a request whose end never came: it leaves the
	// in-flight set with it.
	ev(stream.EventReqStart, 4, 1, 1, 0, "", "innocent")
	tr.onEvent(stream.Event{Kind: stream.EventExit, PID: 4})

	if tr.inflightPeak != 3 { // pid 1's second, pid 2's two
		t.Errorf("in-flight peak %d, want 3", tr.inflightPeak)
	}
	if len(tr.inflight) != 1 {
		t.Errorf("%d requests still in flight, want 1 (pid 1's second)", len(tr.inflight))
	}
	if tr.keptAlive != 1 {
		t.Errorf("kept-alive requests %d, want 1", tr.keptAlive)
	}
	all, byGroup := tr.deathFailed()
	if all != 2 || byGroup["crash"] != 1 || byGroup["innocent"] != 1 {
		t.Errorf("death-failed %d %v, want 2: 1 crash, 1 innocent", all, byGroup)
	}
}
