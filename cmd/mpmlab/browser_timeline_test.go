package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// readoutAt moves the pointer to (fx, y) of the timeline, fx a fraction of
// its width and y in CSS pixels from its top, and returns what the readout
// under it says (the JSON of its data-readout) and its text.
func (tb *tab) readoutAt(fx, y float64) (readout, string) {
	tb.t.Helper()
	var box struct{ X, Y, W float64 }
	tb.eval(`(() => { const r = document.getElementById("timeline").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width} })()`, &box)
	// A sentinel, so that a readout left by an earlier move is not read
	// as this one's: the page's mousemove handler runs before the
	// dispatch returns, and replaces it if the point is on a lane.
	var ok bool
	tb.eval(`(document.getElementById("timeline-readout").dataset.readout = "{}", true)`, &ok)
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X+fx*box.W, box.Y+y))
	var r readout
	if err := json.Unmarshal([]byte(tb.evalString(`document.getElementById("timeline-readout").dataset.readout`)), &r); err != nil {
		tb.t.Fatal(err)
	}
	return r, tb.evalString(`document.getElementById("timeline-readout").textContent`)
}

// clickElement clicks the element sel selects, as a click event on it
// (not at screen coordinates).
func (tb *tab) clickElement(sel string) {
	tb.t.Helper()
	var ok bool
	tb.eval(`(document.querySelector(`+strconv.Quote(sel)+`).click(), true)`, &ok)
}

// MaxRows is live.MaxSubRows: the rows a lane draws before its band.
const MaxRows = 12

// readout is live.Readout as the page's data-readout holds it.
type readout struct {
	Lane string  `json:"lane"`
	AtMS float64 `json:"at_ms"`
	Loop bool    `json:"loop"`
	// Listens: the lane's process has an event-MPM listener, which held
	// Listener idle keep-alive connections then.
	Listens  bool `json:"listens"`
	Listener int  `json:"listener"`
	Counts   struct {
		InFlight int `json:"in_flight"`
		Waiting  int `json:"waiting"`
		Holding  int `json:"holding"`
		Parked   int `json:"parked"`
	} `json:"counts"`
	Req *struct {
		Label string  `json:"label"`
		Total float64 `json:"total_ms"`
		// Queue is the ms from its client's sending it to a worker's
		// taking it (-1: not known).
		Queue float64 `json:"queue_ms"`
	} `json:"req"`
}

// Two hundred requests parked at once on one loop are all in the picture:
// a dozen rows, then a band as tall as the rest at each instant, and the
// pointer reads how many were in flight, parked, waiting and holding.
func TestBrowserManyParkedReadable(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "sleep", "groups", "none", "load.concurrency", "200", "load.requests", "0", "load.duration_ms", "3000",
		"load.keepalive", "true")
	tb.runModel("reactor")
	// Once the run is over, nothing is in flight: no W left on the
	// scoreboard, no connection in the loop's stub_status.
	if sb := tb.evalString(`document.getElementById("scoreboard").textContent`); strings.ContainsAny(sb, "WRK") || sb == "" {
		t.Errorf("after the run the scoreboard reads %q, want only open slots", sb)
	}
	if st := tb.evalString(`document.getElementById("stub-status").textContent`); !strings.HasPrefix(st, "Active connections: 0") {
		t.Errorf("after the run stub_status reads %q", st)
	}
	// The middle of the run, on one of the loop's request rows (under the
	// axis, the accept queue's track if it had one, the loop's track).
	var r readout
	var text string
	for y := 20.0; y < 200; y += 7 {
		if r, text = tb.readoutAt(0.5, y); r.Loop && r.Req != nil {
			break
		}
	}
	if r.Lane == "" {
		t.Fatal("no readout under the pointer on any row of the timeline")
	}
	tb.screenshot("timeline-200-parked")
	t.Logf("readout: %s", text)
	c := r.Counts
	if !r.Loop || c.InFlight != c.Waiting+c.Holding+c.Parked {
		t.Fatalf("readout %+v: want a loop whose in-flight requests are the waiting, holding and parked ones", r)
	}
	// 200 clients, each with one request out at a time, sleeping 50 ms:
	// far more than the dozen rows are in flight at any instant of the
	// load (how many depends on how fast a busy machine's clients send
	// again), never more than the clients, and more of them parked in
	// their sleep than the rows could show. (How many wait for the loop
	// instead depends on how much CPU the loop gets: on a busy machine
	// half of them may.)
	if c.InFlight <= MaxRows || c.InFlight > 200 || c.Parked <= MaxRows || c.Holding > 1 {
		t.Errorf("at the middle of the run: %d in flight, %d parked, %d holding; want more than the %d rows in flight and parked, at most the 200 clients, at most one holding", c.InFlight, c.Parked, c.Holding, MaxRows)
	}
	if !strings.Contains(text, "parked") {
		t.Errorf("the readout says %q", text)
	}
	// A request's time from its client's sending it to a worker's taking
	// it is known: the load generator says when it sent it, and the worker
	// passes that on with the request's start. (At this rate the host
	// samples events: a bar drawn from its end alone has no start, and no
	// such time; the rows under the pointer have some that do.)
	known := 0
	for yy := 20.0; yy < 260; yy += 5 {
		if q, _ := tb.readoutAt(0.5, yy); q.Loop && q.Req != nil && q.Req.Queue >= 0 {
			if q.Req.Queue > q.Req.Total {
				t.Errorf("a request waited %v ms to be taken, of %v ms in all", q.Req.Queue, q.Req.Total)
			}
			known++
		}
	}
	t.Logf("%d requests under the pointer know their wait to be taken", known)
	if known == 0 {
		t.Error("no request under the pointer knows its wait to be taken")
	}
}

// The runaway holds its loop until the timeout kills it: the picture draws
// that hold, by that request, and the innocent requests keep their real
// latency.
func TestBrowserRunawayDrawn(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "runaway")
	tb.runModel("reactor")
	tb.screenshot("runaway-reactor")
	callout := tb.evalString(`document.getElementById("hold-callout").textContent`)
	// Cut off by the worker's own timer, the hold is GET /spin's; when
	// /spin froze its whole process, the guard's kill took its events
	// with it, and the hold is a request past its timeout.
	if !strings.Contains(callout, "timeout") || !strings.Contains(callout, "/spin") && !strings.Contains(callout, "a request past its timeout") {
		t.Errorf("the hold callout says %q, want the loop held until the timeout, by GET /spin or a request past its timeout", callout)
	}
	if held := tb.evalFloat(`+document.getElementById("timeline").dataset.busy || 0`); held <= 0 {
		t.Errorf("the loop's track shows it busy %v of the time", held)
	}
	if p50 := tb.evalFloat(`+document.getElementById("p50").dataset.ms || 0`); p50 <= 0 {
		t.Errorf("p50 shows %v ms: failed requests must keep their latency", p50)
	}
	// Once the run is over the group table says the whole run's figures,
	// as the Compare row does: the spin group's one request failed at the
	// timeout, which is its latency, not the 0 ms of a last window
	// without it.
	group := func(sel string) string {
		return tb.evalString(`(() => { const c = document.querySelector('` + sel + ` [data-stat="p50"]'); return c ? c.textContent : "(none)" })()`)
	}
	live, row := group(`#group-stats tr[data-group="spin"]`), group(`#compare-table tr.group-row[data-model="reactor"][data-group="spin"]`)
	if live != row || live == "–" || strings.HasPrefix(live, "0.00") {
		t.Errorf("after the run the group table's spin p50 is %q, the Compare row's %q: want the whole run's, the same", live, row)
	}
}

// The compare table and the latency overlay hold one experiment's runs:
// a run of an edited experiment empties the rows of the earlier one
// instead of keeping them beside it.
func TestBrowserCompareOneExperiment(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "hello", "groups", "none", "load.requests", "50", "load.duration_ms", "0")
	tb.runModel("reactor")
	if got := tb.evalString(`document.getElementById("overlay-chart").dataset.models`); got != "reactor" {
		t.Fatalf("after a reactor run the overlay draws %q", got)
	}
	tb.set("source", tb.state().Source+"\n// edited\n")
	tb.runModel("thread")
	const endState = `document.getElementById("events").textContent + " | " + document.getElementById("scoreboard").textContent`
	threadEnd := tb.evalString(endState)
	if got := tb.evalString(`document.querySelector("#summary-reactor [data-stat=requests]").textContent`); got != "–" {
		t.Errorf("the reactor row of the earlier experiment still says %q requests", got)
	}
	if got := tb.evalString(`document.getElementById("overlay-chart").dataset.models`); got != "thread" {
		t.Errorf("the overlay draws %q, want only this experiment's thread run", got)
	}
	// Each run of the experiment stays to be looked at: a click on its
	// row puts its timeline back in the live view.
	tb.runModel("reactor")
	if lanes := tb.evalString(`document.getElementById("timeline").dataset.lanes`); !strings.Contains(lanes, "loop") {
		t.Fatalf("after the reactor run the timeline's lanes are %q", lanes)
	}
	// A click dispatched on the row itself: the page may still be
	// scrolling the live view into sight, which moves a click made at
	// coordinates off its target.
	tb.clickElement("#summary-thread th")
	tb.wait(`document.getElementById("live-model").textContent === "thread" && document.getElementById("timeline").dataset.lanes.includes("thread")`,
		5*time.Second, "the thread run's timeline after a click on its row")
	tb.screenshot("compare-row-selects-thread")
	// The live panel's figures are the selected run's, not those the
	// run that ended last left there.
	tb.liveMatchesRow("thread")
	// Its spawns and exits and its scoreboard too, as its run left them.
	if got := tb.evalString(endState); got != threadEnd {
		t.Errorf("with the thread run selected the lifecycle list and scoreboard say %q, as the run ended %q", got, threadEnd)
	}
	// Both runs as small multiples on one time axis.
	if runs := tb.evalString(`document.getElementById("multiples").dataset.runs`); runs != "thread reactor" {
		t.Errorf("the small multiples show %q, want the thread and reactor runs", runs)
	}
	if spans := tb.evalString(`[...document.querySelectorAll("#multiples figure")].map(f => f.dataset.spanMs).join(" ")`); len(strings.Fields(spans)) != 2 || strings.Fields(spans)[0] != strings.Fields(spans)[1] {
		t.Errorf("the small multiples' time axes are %q ms, want one axis", spans)
	}
	tb.clickElement(`#multiples figure[data-run="reactor"]`)
	tb.wait(`document.getElementById("live-model").textContent === "reactor"`, 5*time.Second, "the reactor run in the live view after a click on its timeline")
	tb.liveMatchesRow("reactor")
}

// liveMatchesRow checks that the live panel shows the whole-run figures
// of run's compare row: its rate (whole in the panel, to a tenth in the
// row), its failed requests and its PSS.
func (tb *tab) liveMatchesRow(run string) {
	tb.t.Helper()
	row := `document.querySelector("#summary-` + run + ` [data-stat=%s]").textContent`
	live := `document.getElementById("%s").textContent`
	liveRPS := tb.evalFloat("+" + fmt.Sprintf(live, "rps"))
	rowRPS := tb.evalFloat("+" + fmt.Sprintf(row, "rps"))
	if math.Abs(liveRPS-rowRPS) > 1 {
		tb.t.Errorf("with the %s run selected the live panel says %v req/s, its row %v", run, liveRPS, rowRPS)
	}
	for _, stat := range []string{"errors", "pss"} {
		l, r := tb.evalString(fmt.Sprintf(live, stat)), tb.evalString(fmt.Sprintf(row, stat))
		if l != r || r == "–" {
			tb.t.Errorf("with the %s run selected the live panel's %s is %q, its row's %q", run, stat, l, r)
		}
	}
}

// zoomState is live.Zoom as #timeline-zoom's data-zoom holds it.
type zoomState struct {
	From float64 `json:"from_ms"`
	To   float64 `json:"to_ms"`
}

// zoom reads the stretch the timeline shows, and whether the page says so.
func (tb *tab) zoom() (z zoomState, shown bool) {
	tb.t.Helper()
	if err := json.Unmarshal([]byte(tb.evalString(`document.getElementById("timeline-zoom").dataset.zoom`)), &z); err != nil {
		tb.t.Fatal(err)
	}
	return z, !tb.evalBool(`document.getElementById("timeline-zoom").hidden`)
}

// onTimeline dispatches a DOM event on the timeline at fx of its width
// and y CSS pixels from its top, computing the point in the page as it is
// when the event is sent (so a page still scrolling cannot move it).
func (tb *tab) onTimeline(js string, fx, y float64) {
	tb.t.Helper()
	var ok bool
	tb.eval(`(() => { const el = document.getElementById("timeline"), r = el.getBoundingClientRect();
		const at = {clientX: r.left + `+strconv.FormatFloat(fx, 'f', 4, 64)+`*r.width, clientY: r.top + `+strconv.FormatFloat(y, 'f', 1, 64)+`, bubbles: true, cancelable: true};
		el.dispatchEvent(`+js+`); return true })()`, &ok)
}

// The timeline zooms about the pointer (ctrl+wheel), pans (a drag, the
// arrow keys) and shows the whole run again (double-click, 0); the page
// says which stretch it shows, and the readout reads the zoomed time.
func TestBrowserTimelineZoom(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "sleep", "groups", "none", "load.concurrency", "20", "load.requests", "0", "load.duration_ms", "2000")
	tb.runModel("reactor")
	if _, shown := tb.zoom(); shown {
		t.Fatal("the zoom line is shown before any zoom")
	}
	// A row of the loop's requests, and the instant under the middle.
	y := 0.0
	var before readout
	for y = 20.0; y < 200; y += 7 {
		if before, _ = tb.readoutAt(0.5, y); before.Loop && before.Req != nil {
			break
		}
	}
	if before.Lane == "" {
		t.Fatal("no readout under the pointer on any row of the timeline")
	}

	tb.onTimeline(`new WheelEvent("wheel", {...at, deltaY: -400, ctrlKey: true})`, 0.5, y)
	z, shown := tb.zoom()
	if !shown || z.To <= z.From {
		t.Fatalf("after ctrl+wheel the timeline shows %+v (line shown: %v), want a zoomed stretch", z, shown)
	}
	if z.From > before.AtMS || z.To < before.AtMS || z.To-z.From > before.AtMS {
		t.Errorf("zoomed to %.0f..%.0f ms, want a narrow stretch around %.0f ms, the instant under the pointer", z.From, z.To, before.AtMS)
	}
	after, text := tb.readoutAt(0.5, y)
	if d := after.AtMS - before.AtMS; d < -(z.To-z.From)/50 || d > (z.To-z.From)/50 {
		t.Errorf("the instant under the pointer moved from %.1f to %.1f ms with the zoom", before.AtMS, after.AtMS)
	}
	if r, _ := tb.readoutAt(0.99, y); r.AtMS > z.To+1 || r.AtMS < z.From {
		t.Errorf("the readout at the right edge reads %.1f ms, outside the zoomed %.0f..%.0f", r.AtMS, z.From, z.To)
	}
	t.Logf("zoomed %.0f..%.0f ms; %s", z.From, z.To, text)
	tb.screenshot("timeline-zoomed")

	// A drag to the right shows earlier time.
	var box struct{ X, Y, W float64 }
	tb.eval(`(() => { const r = document.getElementById("timeline").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width} })()`, &box)
	tb.do(
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, box.X+box.W*0.4, box.Y+y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X+box.W*0.6, box.Y+y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, box.X+box.W*0.6, box.Y+y, chromedp.ButtonLeft),
	)
	if p, _ := tb.zoom(); p.From >= z.From || p.To-p.From < (z.To-z.From)*0.999 {
		t.Errorf("a drag to the right moved the window from %+v to %+v, want earlier and as wide", z, p)
	}
	tb.onTimeline(`new KeyboardEvent("keydown", {...at, key: "ArrowRight"})`, 0.5, y)
	if p, _ := tb.zoom(); p.From <= z.From-(z.To-z.From) {
		t.Errorf("→ after the drag: %+v, want later than the drag left it", p)
	}

	// A double-click shows the whole run again.
	tb.onTimeline(`new MouseEvent("dblclick", at)`, 0.5, y)
	if z, shown := tb.zoom(); shown || z.To > z.From {
		t.Errorf("after a double-click the timeline shows %+v (line shown %v), want the whole run", z, shown)
	}
	if r, _ := tb.readoutAt(0.5, y); r.AtMS-before.AtMS > 1 || before.AtMS-r.AtMS > 1 {
		t.Errorf("whole run again, the middle reads %.1f ms, was %.1f", r.AtMS, before.AtMS)
	}
	// The keys: + zooms about the middle, 0 shows the whole run.
	tb.onTimeline(`new KeyboardEvent("keydown", {...at, key: "+"})`, 0.5, y)
	if z, shown := tb.zoom(); !shown || z.To <= z.From {
		t.Errorf("+ did not zoom: %+v", z)
	}
	tb.onTimeline(`new KeyboardEvent("keydown", {...at, key: "0"})`, 0.5, y)
	if z, shown := tb.zoom(); shown || z.To > z.From {
		t.Errorf("0 did not show the whole run: %+v", z)
	}
}
