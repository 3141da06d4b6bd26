package main

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// exampleExperiment returns a bundled example as the page runs it: its
// source, knobs, load and variants.
func (s *served) exampleExperiment(t *testing.T, name string) experiment.Experiment {
	t.Helper()
	var list []struct {
		Name     string               `json:"name"`
		Source   experiment.Source    `json:"source"`
		Knobs    experiment.Knobs     `json:"knobs"`
		Load     experiment.Load      `json:"load"`
		Variants []experiment.Variant `json:"variants"`
	}
	if err := json.Unmarshal(s.wantStatus(t, 200, "GET", "/api/examples", nil), &list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Name == name {
			return experiment.Experiment{Source: e.Source, Model: "all", Knobs: e.Knobs, Load: e.Load, Variants: e.Variants}
		}
	}
	t.Fatalf("no example %q", name)
	return experiment.Experiment{}
}

// compareResults runs e and returns its summaries.
func (s *served) compareResults(t *testing.T, e experiment.Experiment, tab string) []stream.Result {
	t.Helper()
	st := s.openEvents(t, s.startRunAPI(t, e, tab))
	defer st.close()
	_, seen := st.until(t, 5*time.Minute, "done")
	var out []stream.Result
	for _, ev := range seen {
		if ev.Event == "summary" {
			var r stream.Result
			if err := json.Unmarshal(ev.Data, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

// msOf reads a duration as the sentences write it ("412 ms", "1.2 s").
func msOf(s string) float64 {
	v, unit, _ := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return math.NaN()
	}
	if unit == "s" {
		f *= 1000
	}
	return f
}

var partsRE = regexp.MustCompile(`p50 (\S+ m?s) ≈ (\S+ m?s) in the accept queue and I/O \+ (\S+ m?s) waiting (?:for the loop|in the worker) \+ (\S+ m?s) in the handler`)

// TestServeCompareAccountsForTheP50 runs the cpu example's Compare on the
// real playground: each variant's sentence splits its p50 into the time
// in the accept queue (and I/O), waiting and in the handler, each part
// measured on the same requests (their responses report their server-side
// phases), and the parts add up to the p50 within 10%.
func TestServeCompareAccountsForTheP50(t *testing.T) {
	s := startServe(t, "")
	e := s.exampleExperiment(t, "cpu")
	results := s.compareResults(t, e, "tab-cpu")
	if len(results) != len(e.Variants) {
		t.Fatalf("%d summaries, want one for each of the %d variants", len(results), len(e.Variants))
	}
	for _, r := range results {
		name := r.Variant
		t.Logf("%s: %s", name, r.Sentence)
		if r.Summary == nil || r.Summary.Succeeded == 0 {
			t.Errorf("%s: no request succeeded: %+v", name, r.Summary)
			continue
		}
		p50 := float64(r.Summary.Latency.P50) / 1e6
		m := partsRE.FindStringSubmatch(r.Sentence)
		if m == nil || r.P50Parts == nil || r.QueueP50MS < 0 {
			t.Errorf("%s: the sentence %q does not split the p50 %.2f ms (parts %+v, queue p50 %v)", name, r.Sentence, p50, r.P50Parts, r.QueueP50MS)
			continue
		}
		// The stated p50 is the run's, and the stated parts add up to it.
		if got := msOf(m[1]); math.Abs(got-p50) > 0.05*p50+0.05 {
			t.Errorf("%s: the sentence states p50 %s, the run's is %.2f ms", name, m[1], p50)
		}
		sum := msOf(m[2]) + msOf(m[3]) + msOf(m[4])
		if math.Abs(sum-p50) > 0.10*p50 {
			t.Errorf("%s: the parts %s + %s + %s = %.2f ms, more than 10%% from the p50 %.2f ms", name, m[2], m[3], m[4], sum, p50)
		}
		// The parts are the result's, which add up to the requests' mean.
		pp := r.P50Parts
		if d := pp.QueueMS + pp.WaitMS + pp.ServiceMS - pp.LatencyMS; math.Abs(d) > 0.05 {
			t.Errorf("%s: parts %+v do not add up to their latency (off by %.2f ms)", name, pp, d)
		}
		// Each load group's sentence splits the group's own p50.
		if len(r.Groups) < 2 {
			t.Errorf("%s: %d load groups, want the cpu example's two", name, len(r.Groups))
		}
		for _, g := range r.Groups {
			t.Logf("%s, %s: %s", name, g.Name, g.Sentence)
			if g.Summary == nil || g.Summary.Succeeded == 0 {
				continue
			}
			gp50 := float64(g.Summary.Latency.P50) / 1e6
			m := partsRE.FindStringSubmatch(g.Sentence)
			if m == nil || g.P50Parts == nil || !strings.Contains(g.Sentence, "its p50") {
				t.Errorf("%s, %s: the group's sentence %q does not split its p50 %.2f ms (parts %+v)", name, g.Name, g.Sentence, gp50, g.P50Parts)
				continue
			}
			if got := msOf(m[1]); math.Abs(got-gp50) > 0.05*gp50+0.05 {
				t.Errorf("%s, %s: the sentence states p50 %s, the group's is %.2f ms", name, g.Name, m[1], gp50)
			}
			if sum := msOf(m[2]) + msOf(m[3]) + msOf(m[4]); math.Abs(sum-gp50) > 0.10*gp50 {
				t.Errorf("%s, %s: the parts %s + %s + %s = %.2f ms, more than 10%% from the group's p50 %.2f ms", name, g.Name, m[2], m[3], m[4], sum, gp50)
			}
		}
	}
}

// TestServeSentencesSayWhatHappened runs the crash example's Compare and
// the event model without keep-alive on the real playground: every
// sentence says what the deaths did to the requests, no model is said to
// have had no lane busy, a loop that died is not said to have been held,
// and the event model's listener is said to hold idle connections only
// when requests came on kept-alive ones.
func TestServeSentencesSayWhatHappened(t *testing.T) {
	s := startServe(t, "")
	for _, r := range s.compareResults(t, s.exampleExperiment(t, "crash"), "tab-crash") {
		t.Logf("%s: %s", r.Model, r.Sentence)
		if r.Deaths == 0 || r.Summary == nil || r.Summary.Succeeded == r.Summary.Requests {
			t.Errorf("%s: the crash example ran without deaths or failures: %d deaths, %+v", r.Model, r.Deaths, r.Summary)
			continue
		}
		if !strings.Contains(r.Sentence, "in a worker that died") && !strings.Contains(r.Sentence, "in flight in a worker that died") {
			t.Errorf("%s: %d deaths and failed requests, but the sentence %q does not say what the deaths did to them", r.Model, r.Deaths, r.Sentence)
		}
		if r.Model != "reactor" && (r.BusyPeak == 0 || strings.Contains(r.Sentence, "(0 busy at the peak)")) {
			t.Errorf("%s: busy peak %d beside %d requests: %q", r.Model, r.BusyPeak, r.Summary.Requests, r.Sentence)
		}
		if strings.Contains(r.Sentence, "held for the whole") {
			t.Errorf("%s: a loop that died %d times is said to have been held: %q", r.Model, r.Deaths, r.Sentence)
		}
		if r.DeathFailed == 0 {
			t.Errorf("%s: %d deaths failed no request in flight", r.Model, r.Deaths)
		}
	}
	e := experiment.Experiment{Source: s.example(t, "hello"), Model: "event",
		Knobs: experiment.Knobs{ThreadsPerChild: 2},
		Load:  experiment.Load{Concurrency: 4, DurationMS: 500, KeepAlive: experiment.Bool(false)}}
	results := s.compareResults(t, e, "tab-event")
	if len(results) != 1 {
		t.Fatalf("%d summaries, want 1", len(results))
	}
	r := results[0]
	t.Logf("event without keep-alive: %s", r.Sentence)
	if r.KeptAlive != 0 || strings.Contains(r.Sentence, "listener") {
		t.Errorf("without keep-alive, %d requests came on a kept-alive connection and the sentence says %q", r.KeptAlive, r.Sentence)
	}
}
