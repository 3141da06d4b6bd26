package playground

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/playground/loadgen"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// newHoldInfo names the hold of a req_end event.
func newHoldInfo(e stream.Event) *stream.Hold {
	return &stream.Hold{MS: round2(ms(time.Duration(e.Hold))), Group: e.Group, Method: e.Method, Path: e.Path, Where: e.Where}
}

// groupResults pairs each group's client-side summary with the phases its
// requests reported (by name); loop says whether holds mean anything.
func groupResults(sums []loadgen.GroupSummary, phases map[string]*groupPhases, loop bool) []stream.GroupResult {
	out := make([]stream.GroupResult, len(sums))
	for i, gs := range sums {
		g := stream.GroupResult{Name: gs.Name, Summary: gs.Summary, WaitP50MS: -1, WaitP99MS: -1, ServiceP50MS: -1, ServiceP99MS: -1}
		if p := phases[gs.Name]; p != nil && len(p.waits) > 0 {
			waits, services := slices.Sorted(slices.Values(p.waits)), slices.Sorted(slices.Values(p.services))
			g.WaitP50MS, g.WaitP99MS = percentileMS(waits, 0.50), percentileMS(waits, 0.99)
			g.ServiceP50MS, g.ServiceP99MS = percentileMS(services, 0.50), percentileMS(services, 0.99)
			if loop && p.hold.Hold > 0 {
				g.LongestHold = newHoldInfo(p.hold)
			}
		}
		out[i] = g
	}
	return out
}

// blameWait is the least server-side wait (p99) a group's sentence
// explains by naming what held the loop.
const blameWait = 10 // ms

// groupSentence says what happened to group g under r's model, from its
// figures: its p99 (beside the same group's under prev, the model run
// before it in a Compare), where its time went in the server and, when it
// waited for a loop, which request held the loop: "GET /hello answered
// p99 412 ms (2.1 ms under thread); it waited p99 405 ms for the loop
// behind slow, whose GET /?ms=200 held it 201 ms at main.go:22".
func groupSentence(r *stream.Result, g *stream.GroupResult, prev *stream.Result) string {
	s := g.Summary
	if s == nil || s.Requests == 0 {
		return g.Name + " sent no request"
	}
	var parts []string
	first := g.Name
	if s.Requests > s.Errors {
		first += " answered p99 " + fmtMS(ms(s.Latency.P99))
		if pg := prevGroup(prev, g.Name); pg != nil && pg.Summary.Requests > pg.Summary.Errors {
			first += fmt.Sprintf(" (%s under %s)", fmtMS(ms(pg.Summary.Latency.P99)), runName(prev))
		}
	} else {
		first += " got no response"
	}
	parts = append(parts, first)
	if s.Requests > s.Errors {
		policy, err := models.PolicyOf(models.Model(r.Model))
		if split := splitPhrase(g.P50Parts, s, err == nil && policy.Loop()); split != "" {
			parts = append(parts, "its "+split)
		}
	}
	if g.WaitP99MS >= 0 {
		if r.LongestHold != nil && r.LongestHold.MS >= holdCallout && g.WaitP99MS >= blameWait && g.WaitP99MS >= g.ServiceP99MS {
			h := r.LongestHold
			who := "its own requests, whose " + strings.TrimSpace(h.Method+" "+h.Path)
			if h.Group != g.Name {
				who = fmt.Sprintf("%s, whose %s", h.Group, strings.TrimSpace(h.Method+" "+h.Path))
			}
			held := fmt.Sprintf("it waited p99 %s for the loop behind %s held it %s", fmtMS(g.WaitP99MS), who, fmtMS(h.MS))
			if h.Where != "" {
				held += " at " + h.Where
			}
			parts = append(parts, held)
		} else {
			parts = append(parts, fmt.Sprintf("in the server it waited p99 %s and its handler ran p99 %s", fmtMS(g.WaitP99MS), fmtMS(g.ServiceP99MS)))
		}
	}
	if failed := s.Requests - s.Succeeded; failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d failed (%s)", failed, s.Requests, failureKinds(s))+deathFailedPhrase(r.Deaths, g.DeathFailed, failed))
	}
	return strings.Join(parts, "; ")
}

// prevGroup is prev's group of that name, with a summary, or nil.
func prevGroup(prev *stream.Result, name string) *stream.GroupResult {
	if prev == nil {
		return nil
	}
	for i := range prev.Groups {
		if prev.Groups[i].Name == name && prev.Groups[i].Summary != nil {
			return &prev.Groups[i]
		}
	}
	return nil
}
