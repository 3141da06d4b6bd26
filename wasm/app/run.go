//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"strings"
	"syscall/js"
	"time"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/experiment/record"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// run is an experiment in progress: its id and its event stream.
type run struct {
	id      string
	es      js.Value
	key     string    // the experiment without its model (see rowKey)
	host    bool      // a run on the host (not the browser run's placeholder)
	stopped bool      // Stop was clicked (maybe before the id came)
	funcs   []js.Func // the stream's listeners

	shareID string           // the experiment's share id, which its recording goes with
	rec     *record.Recorder // the stream as it came (a share carries it)
	t0      float64          // performance.now() when the stream opened
	replay  bool             // a recording replayed, not a run
	groups  []string         // the load's groups, whose colours the views draw
}

// groupNames are the names of a load's groups (none for a load without).
func groupNames(l experiment.Load) []string {
	var names []string
	for _, g := range l.Normalize().Groups {
		names = append(names, g.Name)
	}
	return names
}

// rowKey identifies an experiment apart from its model: compare rows with
// another key came from an earlier experiment.
func rowKey(e experiment.Experiment) string {
	e.Model = experiment.AllModels
	return e.ShareID()
}

// startRun starts the form's experiment: under the Model menu's model
// (Run on host), or under all three one after another (Compare: the
// experiment's model is "all", the menu stays as it is, so the next Run
// runs one model again).
func (a *app) startRun(compare bool) {
	if a.run != nil {
		return
	}
	runErr := byID("run-error")
	a.error(runErr, "")
	a.form.clearErrors()
	e, err := a.experiment()
	if compare {
		e.Model = experiment.AllModels
		clearVariantRows()
	}
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		a.showError(runErr, err.Error())
		return
	}
	if msg := needHost("Run on host"); msg != "" {
		a.error(runErr, msg)
		return
	}
	a.ed.SetDiagnostics(nil)
	r := &run{key: rowKey(e), host: true, shareID: e.ShareID(), rec: &record.Recorder{}, groups: groupNames(e.Load)}
	a.run = r
	a.running(true)
	setText(byID("status"), "starting…")
	a.clearOtherExperiments(r.key)
	go func() {
		var res struct {
			ID string `json:"id"`
		}
		err := call("POST", "/api/runs", e, &res)
		if a.run != r { // ended meanwhile: a run the page no longer follows
			if err == nil {
				go call("POST", "/api/runs/"+res.ID+"/stop", nil, nil)
			}
			return
		}
		if err != nil {
			a.runEnded("")
			if r.stopped { // Stop while starting: nothing started
				setText(byID("status"), "stopped by the user")
				return
			}
			// Refused, or the host is gone: nothing is starting.
			setText(byID("status"), "")
			var ae *apiError
			if errors.As(err, &ae) && len(ae.Diagnostics) > 0 {
				a.ed.SetDiagnostics(ae.Diagnostics)
			}
			a.showError(runErr, err.Error())
			return
		}
		r.id = res.ID
		if r.stopped {
			// Stop came while starting: stop it at once, and follow its
			// stream to its "done" (the server frees the tab's run then).
			a.sendStop(r)
			if a.run != r {
				return
			}
		}
		a.listen(r)
	}()
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// showError shows an API error next to the field it names, else in el.
func (a *app) showError(el js.Value, msg string) {
	if a.form.ShowError(msg) {
		return
	}
	if strings.HasPrefix(msg, "source") {
		a.error(byID("source-error"), msg)
		return
	}
	a.error(el, msg)
}

// running switches the buttons between idle and running.
func (a *app) running(on bool) {
	byID("run").Set("disabled", on)
	byID("compare").Set("disabled", on)
	byID("stop").Set("disabled", !on)
	setData(document.Get("body"), "running", boolStr(on))
}

// stopRun stops the host run. Before its id has come (starting…) it marks
// the run stopped: startRun's goroutine sends the stop once it has the id.
func (a *app) stopRun() {
	r := a.run
	if r == nil || !r.host || r.stopped {
		return
	}
	r.stopped = true
	byID("stop").Set("disabled", true)
	if r.id == "" {
		setText(byID("status"), "cancelling…")
		return
	}
	setText(byID("status"), "stopping…")
	go a.sendStop(r)
}

// sendStop asks the host to stop r (POST /api/runs/{id}/stop).
func (a *app) sendStop(r *run) {
	if err := call("POST", "/api/runs/"+r.id+"/stop", nil, nil); err != nil && a.run == r {
		a.error(byID("run-error"), "stop: "+err.Error())
	}
}

// runEnded resets the page after a run; msg, if any, is its error.
func (a *app) runEnded(msg string) {
	if r := a.run; r != nil && r.es.Truthy() {
		r.es.Call("close")
		// Release the listeners once the current event has been handled.
		after(0, func() {
			for _, f := range r.funcs {
				f.Release()
			}
		})
	}
	a.run = nil
	a.running(false)
	if a.view != nil {
		a.view.Stop()
		a.queueDraw(false)
	}
	if msg != "" {
		a.error(byID("run-error"), msg)
	}
}

// listen follows a run's event stream (SSE, API.md), recording what the
// live view is fed (see replay.go).
func (a *app) listen(r *run) {
	es := global.Get("EventSource").New(apiURL("/api/runs/" + r.id + "/events"))
	r.es = es
	r.t0 = global.Get("performance").Call("now").Float()
	showRecording(nil)
	a.follow(r, func(name string, f func(data []byte)) {
		r.funcs = append(r.funcs, listen(es, name, func(e js.Value) {
			if a.run != r {
				return
			}
			data := []byte(e.Get("data").String())
			if recordedEvents[name] && r.rec != nil {
				r.rec.Add(name, data, global.Get("performance").Call("now").Float()-r.t0)
				if name == "done" {
					lastRecorded = r
				}
			}
			f(data)
		}))
	})
	status := byID("status")
	r.funcs = append(r.funcs, listen(es, "error", func(js.Value) {
		if a.run != r {
			return
		}
		// EventSource would reconnect and start nothing: the run is gone.
		setData(status, "busy", "")
		setText(status, "")
		a.runEnded("lost the connection to the run")
	}))
}

// follow registers, through handle, what each event of a run's stream
// does: from the host's stream (listen) or a recording (replay).
func (a *app) follow(r *run, handle func(name string, f func(data []byte))) {
	status := byID("status")
	handle(stream.MsgProgress, func(data []byte) {
		var m stream.Progress
		if !a.decode(stream.MsgProgress, data, &m) {
			return
		}
		setText(status, m.Message)
		setData(status, "busy", "1")
	})
	handle(stream.MsgDiagnostics, func(data []byte) {
		var m stream.Diagnostics
		if !a.decode(stream.MsgDiagnostics, data, &m) {
			return
		}
		a.ed.SetDiagnostics(m.Diagnostics)
		setText(status, "")
		a.error(byID("run-error"), "does not compile: "+plural(len(m.Diagnostics), "error"))
	})
	handle(stream.MsgPhase, func(data []byte) {
		var m stream.Phase
		if !a.decode(stream.MsgPhase, data, &m) {
			return
		}
		key := runKey(m.Model, m.Variant)
		switch m.State {
		case stream.PhaseStarting:
			delete(a.finals, a.views[key])
			v := live.New(m.Model)
			v.Groups = r.groups
			showGroupLegend(r.groups)
			a.views[key] = v
			a.view = v
			a.resetLive(m.Model)
			what := "the " + m.Model + " model"
			if m.Variant != "" {
				setText(byID("live-model"), m.Variant)
				variantRow(m.Model, m.Variant)
				what = m.Variant
			}
			setText(status, "starting "+what+"…")
			// The live view is what the person came for: bring it on
			// screen (it sits below the editor and the form). Not for
			// a run they stopped (while starting, its "starting" can
			// come after the Stop): nothing is coming to watch, and a
			// page scrolling under the pointer loses the click on Run
			// that comes next.
			if !r.stopped {
				byID("live").Call("scrollIntoView", map[string]any{"block": "start", "behavior": "smooth"})
			}
		case stream.PhaseRunning:
			setText(status, "running under "+key+"…")
		case stream.PhaseStopped:
			if v := a.views[key]; v != nil {
				v.Stop()
				v.WorkersGone = true
				if v == a.view {
					a.showStopped(v)
				}
			}
			// A model stopped by the user while starting may say it
			// could not start ("context canceled"): that is the Stop.
			if m.Error != "" && !r.stopped {
				a.error(byID("run-error"), m.Error)
			}
		}
		setData(byID("live"), "state", m.State)
		a.queueDraw(false)
	})
	handle(stream.MsgTrace, func(data []byte) {
		var t stream.Trace
		if !a.decode(stream.MsgTrace, data, &t) || a.view == nil {
			return
		}
		a.view.AddTrace(&t)
		a.logLifecycle(t.Events)
		a.showPool()
		a.queueDraw(false)
	})
	handle(stream.MsgStats, func(data []byte) {
		var s stream.Stats
		if !a.decode(stream.MsgStats, data, &s) {
			return
		}
		v := a.views[runKey(s.Model, s.Variant)]
		if v == nil {
			v = a.view
		}
		if v != nil {
			v.AddStats(&s)
		}
		if v == a.view {
			a.showStats(&s)
		}
		a.queueDraw(false)
	})
	handle(stream.MsgSummary, func(data []byte) {
		var s stream.Result
		if a.decode(stream.MsgSummary, data, &s) {
			a.showSummaryRow(&s, r.key)
		}
	})
	handle(stream.MsgDone, func(data []byte) {
		var m stream.Done
		// A done that cannot be read still ends the run: say why
		// below the form, as the other messages do.
		a.decode(stream.MsgDone, data, &m)
		switch {
		case m.Error != "":
			setText(status, "")
		case m.Stopped != "":
			setText(status, m.Stopped)
		default:
			setText(status, "done")
		}
		setData(status, "busy", "")
		a.runEnded(m.Error)
	})
}

// decode reads a message of the run's stream (its name, its data) into
// v, one of wasm/stream's types. A message that does not decode — a host
// of another version, a field of another type — is said below the form
// ("the host's stats message could not be read: ..."), and warned of in the
// console, instead of leaving a chart blank without a word; decode then
// returns false and the message is skipped. Fields the page does not know
// are ignored (a newer host may add some).
func (a *app) decode(name string, data []byte, v any) bool {
	err := json.Unmarshal(data, v)
	if err == nil {
		return true
	}
	msg := "the host's " + name + " message could not be read: " + err.Error()
	global.Get("console").Call("warn", msg, string(data))
	a.error(byID("run-error"), msg)
	return false
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return itoa(n) + " " + what + "s"
}

// resetLive clears the live panel for a model starting.
func (a *app) resetLive(model string) {
	setText(byID("live-model"), model)
	for _, id := range []string{"rps", "p50", "p90", "p99", "errors", "inflight", "queue", "held", "pss", "util", "lag-p99"} {
		el := byID(id)
		setText(el, "–")
		el.Call("removeAttribute", "data-ms")
	}
	clear(a.exited)
	clear(a.groupLast)
	show(byID("group-stats"), false)
	setData(byID("live"), "model", model)
	clearChildren(byID("scoreboard"))
	clearChildren(byID("events"))
	setText(byID("stub-status"), "")
	show(byID("pool-status"), false)
	setText(byID("hold-callout"), "")
	show(byID("timeline-readout"), false)
}

// showStats updates the numbers of the live panel. The percentiles are
// the last window's (250 ms): a window without answers keeps the previous
// ones; the summary replaces them with the whole run's.
func (a *app) showStats(s *stream.Stats) {
	setText(byID("rps"), ftoa(s.RPS, 0))
	if s.P99MS > 0 {
		a.showPercentiles(s.P50MS, s.P90MS, s.P99MS, "over the last 250 ms")
	}
	setText(byID("errors"), itoa(s.Errors))
	setText(byID("queue"), itoa(s.Queue))
	setText(byID("held"), itoa(s.Held))
	setText(byID("pss"), mbText(s.PSSKB))
	if a.view != nil {
		setText(byID("inflight"), itoa(a.view.Running()))
	}
	if s.LoopUtil >= 0 {
		setText(byID("util"), ftoa(s.LoopUtil*100, 0)+"%")
		setText(byID("lag-p99"), live.FormatMS(s.LagP99MS))
	}
	a.showScoreboard(s.Scoreboard)
	conns := ""
	if c := s.Conns; c != nil {
		if m := experiment.ModelNamed(s.Model); m != nil && !m.Loop {
			// Apache event's mod_status: the connections its listeners
			// hold, which its threads' scoreboard never shows.
			conns = "Connections: " + itoa(c.Writing+c.Waiting) + " total · being served: " + itoa(c.Writing) +
				" · Async connections: keep-alive " + itoa(c.Waiting) + " (held by the listeners, no thread)"
		} else {
			// nginx's stub_status, for the loop: its letter alone is
			// one character for all its connections.
			conns = "Active connections: " + itoa(c.Reading+c.Writing+c.Waiting) +
				" · Reading: " + itoa(c.Reading) + " · Writing: " + itoa(c.Writing) + " · Waiting: " + itoa(c.Waiting)
		}
	}
	setText(byID("stub-status"), conns)
	a.showGroupStats(s.Groups)
	a.showPool()
}

// showPool shows the thread pools' counters, from the view's pool events,
// once a task has come.
func (a *app) showPool() {
	el := byID("pool-status")
	if a.view == nil || a.view.Pool == (live.PoolStats{Threads: a.view.Pool.Threads}) {
		show(el, false)
		return
	}
	p := a.view.Pool
	setText(el, "Thread pool: "+itoa(p.Threads)+" threads · busy "+itoa(p.Busy)+" · queued "+itoa(p.Queued)+
		" · done "+itoa(p.Done)+" · refused "+itoa(p.Overflows))
	setData(el, "queued", itoa(p.Queued))
	setData(el, "done", itoa(p.Done))
	show(el, true)
}

// showGroupLegend names the load's groups by the colour of the stripe
// their requests' bars carry in the timeline.
func showGroupLegend(groups []string) {
	el := byID("group-legend")
	clearChildren(el)
	show(el, len(groups) > 1)
	if len(groups) > 1 {
		el.Call("append", "load groups (the stripe on each bar): ")
	}
	for i, g := range groups {
		sw := create("i", "group-swatch", "")
		sw.Get("style").Set("background", live.GroupColor(i))
		item := create("span", "", "")
		setData(item, "group", g)
		item.Call("append", sw, g+" ")
		el.Call("appendChild", item)
	}
}

// showGroupStats shows each load group's figures over the last window: how
// the innocent group fares beside the slow one, as it happens. A group with
// no answer in the window keeps the percentiles it showed last, as the live
// panel's do (a window of none has none: 0 ms would be false), and the
// run's summary replaces them with the whole run's (showGroupTotals).
func (a *app) showGroupStats(groups []stream.GroupStats) {
	for i := range groups {
		g := &groups[i]
		last, seen := a.groupLast[g.Name]
		switch {
		case g.RPS > 0: // answers in this window
			a.groupLast[g.Name] = [2]float64{g.P50MS, g.P99MS}
		case seen:
			g.P50MS, g.P99MS = last[0], last[1]
		default:
			g.P50MS, g.P99MS = -1, -1
		}
	}
	a.drawGroupStats(groups, "Each load group, over the last 250 ms")
}

// showGroupTotals shows each load group's figures over the whole run, from
// its summary.
func (a *app) showGroupTotals(groups []stream.GroupResult) {
	var gs []stream.GroupStats
	for _, g := range groups {
		s := g.Summary
		if s == nil {
			continue
		}
		p50, p99 := -1.0, -1.0
		if s.Latency.Max > 0 {
			p50, p99 = float64(s.Latency.P50)/1e6, float64(s.Latency.P99)/1e6
		}
		gs = append(gs, stream.GroupStats{Name: g.Name, RPS: s.RPS, OK: s.Succeeded, Errors: s.Requests - s.Succeeded, P50MS: p50, P99MS: p99})
	}
	a.drawGroupStats(gs, "Each load group, over the whole run")
}

// rpsText is a rate in requests a second: whole, but for a rate under 10,
// whose tenths matter (a slow group's 0.3 is not 0).
func rpsText(rps float64) string {
	if rps > 0 && rps < 10 {
		return ftoa(rps, 1)
	}
	return ftoa(rps, 0)
}

// drawGroupStats fills the group table; a percentile under 0 is none ("–").
func (a *app) drawGroupStats(groups []stream.GroupStats, label string) {
	table := byID("group-stats")
	show(table, len(groups) > 0)
	table.Call("setAttribute", "aria-label", label)
	setData(table, "over", label)
	body := query(table, "tbody")
	clearChildren(body)
	pct := func(ms float64) string {
		if ms < 0 {
			return "–"
		}
		return live.FormatMS(ms)
	}
	for i, g := range groups {
		tr := create("tr", "", "")
		setData(tr, "group", g.Name)
		name := create("th", "", "")
		sw := create("i", "group-swatch", "")
		sw.Get("style").Set("background", live.GroupColor(i))
		name.Call("append", sw, g.Name)
		tr.Call("appendChild", name)
		for _, c := range []struct{ stat, text string }{
			{"rps", rpsText(g.RPS)}, {"p50", pct(g.P50MS)}, {"p99", pct(g.P99MS)},
			{"ok", itoa(g.OK)}, {"errors", itoa(g.Errors)},
		} {
			td := create("td", "", c.text)
			setData(td, "stat", c.stat)
			tr.Call("appendChild", td)
		}
		setData(query(tr, "[data-stat=p99]"), "ms", ftoa(g.P99MS, 3))
		body.Call("appendChild", tr)
	}
}

// showLoop writes what the loop's picture shows under the timeline: the
// longest hold in words, and, as data attributes of the timeline, the
// numbers the picture is drawn from (how many requests hold a loop at once,
// the share drawn waiting and parked), which the browser tests read.
func (a *app) showLoop(v *live.View) {
	st := v.LoopStats()
	el := a.timeline.el
	setData(el, "maxHolders", itoa(st.MaxHolders))
	setData(el, "maxParked", itoa(st.MaxParked))
	setData(el, "queued", ftoa(st.Queued, 3))
	setData(el, "parked", ftoa(st.Parked, 3))
	setData(el, "busy", ftoa(st.Busy, 3))
	setData(el, "maxInFlight", itoa(v.MaxInFlight()))
	if v != a.drawnView { // another view on screen: the tests tell runs apart by it
		a.drawnView = v
		a.drawnViews++
	}
	setData(el, "view", itoa(a.drawnViews))
	setData(el, "answered", itoa(v.Answered()))
	peak, listeners := v.ListenerPeak()
	setData(el, "listenerPeak", itoa(peak))
	setData(el, "listeners", itoa(listeners))
	var lanes []string
	for _, l := range v.Lanes {
		lanes = append(lanes, l.Name)
	}
	setData(el, "lanes", strings.Join(lanes, ","))
	text := ""
	if h, ok := v.LongestHold(); ok {
		text = h.Text()
	}
	a.showBlame(byID("hold-callout"), text)
}

// showPercentiles shows latency percentiles in the live panel; #p99 keeps
// its value in ms in data-ms.
func (a *app) showPercentiles(p50, p90, p99 float64, over string) {
	for _, p := range []struct {
		id string
		ms float64
	}{{"p50", p50}, {"p90", p90}, {"p99", p99}} {
		el := byID(p.id)
		setText(el, live.FormatMS(p.ms))
		el.Set("title", p.id+" "+over)
		setData(el, "ms", ftoa(p.ms, 3))
	}
}

// showScoreboard shows mod_status's letters, each run of one letter in a
// span of its class.
func (a *app) showScoreboard(board string) {
	var b strings.Builder
	for i := 0; i < len(board); {
		j := i
		for j < len(board) && board[j] == board[i] {
			j++
		}
		class := map[byte]string{'_': "idle", 'R': "read", 'W': "send", 'K': "keep", 'B': "block", '.': "open"}[board[i]]
		b.WriteString(`<span class="sb-` + class + `">`)
		for k := i; k < j; k++ {
			c := board[k]
			if c == '<' || c == '&' || c == '>' {
				c = '?'
			}
			b.WriteByte(c)
		}
		b.WriteString("</span>")
		i = j
	}
	byID("scoreboard").Set("innerHTML", b.String())
}

// logLifecycle lists spawns, exits and kills under the timeline.
func (a *app) logLifecycle(evs []stream.Event) {
	list := byID("events")
	for _, e := range evs {
		var text, class string
		switch e.Kind {
		case stream.EventSpawn:
			text, class = "spawned worker "+itoa(e.Process)+" (pid "+itoa(e.PID)+")", "spawn"
		case stream.EventExit:
			if a.exited[e.PID] { // the worker's own word and the supervisor's
				continue
			}
			a.exited[e.PID] = true
			text, class = "worker "+itoa(e.Process)+" (pid "+itoa(e.PID)+") exited", "exit"
			if e.Status != 0 {
				class = "crash"
				text += " with status " + itoa(e.Status)
			}
			if e.Cause != "" {
				text += ": " + e.Cause
			}
		case stream.EventKill:
			text, class = "killed worker "+itoa(e.Process)+" (pid "+itoa(e.PID)+"): "+e.Cause, "kill"
		default:
			continue
		}
		if a.view != nil && a.view.T0 != 0 {
			text = live.FormatMS(float64(e.T-a.view.T0)/1e6) + "  " + text
		}
		li := create("li", class, text)
		list.Call("prepend", li)
		if list.Get("childElementCount").Int() > 200 {
			list.Get("lastElementChild").Call("remove")
		}
	}
}

// final is a run's whole-run figures, from its summary: what its compare
// row shows, for the live panel (showFinal).
type final struct {
	dist          live.Dist
	p50, p90, p99 float64
	ran           bool // it measured a load (a model that could not run did not)
	rps           float64
	errors        int // requests that did not succeed
	pssKB         int // Result.PSSKB: the row's PSS, 0 if not measured
	groups        []stream.GroupResult
}

// mbText is a memory size in KiB as MB, or "–" if not measured.
func mbText(kb int) string {
	if kb <= 0 {
		return "–"
	}
	return ftoa(float64(kb)/1024, 1) + " MB"
}

// perConnText is a result's memory per open connection: "19.8 KB × 10000",
// or "n/a (8 held)" when too few were held to divide (stream.PerConnKB).
func perConnText(s *stream.Result) string {
	if s.PSSKB <= 0 {
		return "–" // not measured (a model in the tab, or one that did not run)
	}
	if s.PerConnKB < 0 || s.ConnsHeld < stream.MinConnsPerConn {
		return "n/a (" + itoa(s.ConnsHeld) + " held)"
	}
	return ftoa(s.PerConnKB, 1) + " KB × " + itoa(s.ConnsHeld)
}

// showSummaryRow fills the model's row of the compare table and its curve.
func (a *app) showSummaryRow(s *stream.Result, key string) {
	rk := runKey(s.Model, s.Variant)
	row := query(document, "#"+rowID(s.Model, s.Variant))
	if row.IsNull() {
		return
	}
	a.summaries[row.Get("id").String()] = key
	setData(row, "stale", "")
	setData(row, "filled", "1")
	cell := func(stat, text string) js.Value {
		c := query(row, "[data-stat="+stat+"]")
		setText(c, text)
		return c
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	sum := s.Summary
	if sum == nil { // the model could not run: nothing measured
		sum = &stream.LoadSummary{}
	}
	cell("requests", itoa(sum.Requests))
	cell("rps", ftoa(sum.RPS, 1))
	cell("p50", latencyText(sum, sum.Latency.P50))
	cell("p90", latencyText(sum, sum.Latency.P90))
	p99 := cell("p99", latencyText(sum, sum.Latency.P99))
	setData(p99, "ms", ftoa(ms(sum.Latency.P99), 3))
	failed := sum.Requests - sum.Succeeded
	errs := cell("errors", itoa(failed))
	var why []string
	for k, v := range sum.ErrorKinds {
		why = append(why, itoa(v)+" "+k)
	}
	for k, v := range sum.StatusCodes {
		if k < 200 || k >= 400 {
			why = append(why, itoa(v)+" × "+itoa(k))
		}
	}
	errs.Set("title", strings.Join(why, ", "))
	setData(errs, "bad", boolStr(failed > 0))
	rss := "–"
	if s.RSSKB > 0 {
		rss = ftoa(float64(s.RSSKB)/1024, 1) + " MB"
	}
	cell("rss", rss)
	cell("pss", mbText(s.PSSKB))
	pc := cell("perconn", perConnText(s))
	if s.PSSKB > 0 {
		pc.Set("title", "PSS "+mbText(s.PSSBeforeKB)+" before the load, "+mbText(s.PSSKB)+" holding "+plural(s.ConnsHeld, "connection"))
	}
	setData(pc, "kb", ftoa(s.PerConnKB, 2))
	sentence := s.Sentence
	if s.Error != "" {
		sentence = strings.TrimSpace(sentence + " " + s.Error)
	}
	cell("sentence", sentence)
	a.showGroupRows(row, s)
	d := live.Dist{Model: s.Model, MinMS: ms(sum.Latency.Min)}
	for _, b := range sum.Histogram {
		d.Buckets = append(d.Buckets, stream.Bucket{LeMS: ms(b.Le), Count: b.Count})
	}
	a.dists[rk] = d
	if v := a.views[rk]; v != nil {
		f := final{dist: d, ran: s.Summary != nil, rps: sum.RPS, errors: failed, pssKB: s.PSSKB, groups: s.Groups}
		if sum.Latency.Max > 0 {
			f.p50, f.p90, f.p99 = ms(sum.Latency.P50), ms(sum.Latency.P90), ms(sum.Latency.P99)
		}
		a.finals[v] = f
		if v == a.view {
			a.showFinal(f)
		}
		v.Dirty = true
	}
	a.queueDraw(true)
}

// showFinal puts a run's whole-run figures, the ones its compare row
// shows, in the live panel: the percentiles, the rate, the failed
// requests, the PSS and the groups' totals. The other numbers (queue,
// held, the loop's load) stay as the run's last stats left them.
func (a *app) showFinal(f final) {
	if f.p99 > 0 {
		a.showPercentiles(f.p50, f.p90, f.p99, "over the whole run")
	}
	if f.ran {
		setText(byID("rps"), ftoa(f.rps, 0))
		setText(byID("errors"), itoa(f.errors))
	}
	if f.pssKB > 0 {
		setText(byID("pss"), mbText(f.pssKB))
	}
	if len(f.groups) > 0 {
		a.showGroupTotals(f.groups)
	}
}

// runKey names one model's run of an experiment: its variant, or its
// model.
func runKey(model, variant string) string {
	if variant != "" {
		return variant
	}
	return model
}

// rowID is the id of a run's row in the compare table.
func rowID(model, variant string) string {
	if variant == "" {
		return "summary-" + model
	}
	var b strings.Builder
	for _, c := range variant {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return "summary-variant-" + b.String() + "-" + itoa(len(variant))
}

// variantRow adds a variant's row to the compare table, after the model
// rows and the variants before it, unless it is there.
func variantRow(model, variant string) {
	id := rowID(model, variant)
	if !elementByID(id).IsNull() {
		return
	}
	tmpl := byID("summary-" + model)
	row := tmpl.Call("cloneNode", true)
	row.Set("id", id)
	setData(row, "variant", variant)
	setData(row, "filled", "")
	th := query(row, "th")
	clearChildren(th)
	th.Call("append", modelSwatch(model), variant)
	query(row, "td[data-stat=sentence]").Set("textContent", "")
	for _, td := range []string{"requests", "rps", "p50", "p90", "p99", "errors", "rss", "pss", "perconn"} {
		setText(query(row, "[data-stat="+td+"]"), "–")
	}
	row.Get("classList").Call("add", "variant-row")
	body := query(byID("compare-table"), "tbody")
	first := query(body, "tr.browser-row")
	body.Call("insertBefore", row, first)
}

// clearVariantRows removes the variant rows of an earlier Compare, and
// their groups' rows.
func clearVariantRows() {
	rows := document.Call("querySelectorAll", "#compare-table tr.variant-row")
	for i := 0; i < rows.Length(); i++ {
		r := rows.Index(i)
		for next := r.Get("nextElementSibling"); !next.IsNull() && next.Get("classList").Call("contains", "group-row").Bool(); next = r.Get("nextElementSibling") {
			next.Call("remove")
		}
		r.Call("remove")
	}
}

// showGroupRows puts a row for each load group under the model's row of
// the compare table: the group's own figures and its sentence.
func (a *app) showGroupRows(row js.Value, s *stream.Result) {
	for next := row.Get("nextElementSibling"); !next.IsNull() && next.Get("classList").Call("contains", "group-row").Bool(); next = row.Get("nextElementSibling") {
		next.Call("remove")
	}
	after := row
	for i, g := range s.Groups {
		tr := create("tr", "group-row", "")
		setData(tr, "model", runKey(s.Model, s.Variant))
		setData(tr, "group", g.Name)
		name := create("th", "", "")
		sw := create("i", "group-swatch", "")
		sw.Get("style").Set("background", live.GroupColor(i))
		name.Call("append", sw, g.Name)
		tr.Call("appendChild", name)
		sum := g.Summary
		if sum == nil {
			sum = &stream.LoadSummary{}
		}
		for _, c := range []struct{ stat, text string }{
			{"requests", itoa(sum.Requests)}, {"rps", ftoa(sum.RPS, 1)}, {"p50", latencyText(sum, sum.Latency.P50)}, {"p90", latencyText(sum, sum.Latency.P90)},
			{"p99", latencyText(sum, sum.Latency.P99)}, {"errors", itoa(sum.Requests - sum.Succeeded)}, {"rss", ""}, {"pss", ""}, {"perconn", ""}, {"sentence", g.Sentence},
		} {
			td := create("td", "", c.text)
			setData(td, "stat", c.stat)
			tr.Call("appendChild", td)
		}
		setData(query(tr, "[data-stat=p99]"), "ms", ftoa(float64(sum.Latency.P99)/1e6, 3))
		after.Call("after", tr)
		after = tr
	}
}

// queueDraw redraws on the next animation frame (at most once a frame);
// all also redraws charts whose data did not change (a resize, a theme).
func (a *app) queueDraw(all bool) {
	a.drawAll = a.drawAll || all
	if a.drawQueued {
		return
	}
	a.drawQueued = true
	raf(a.draw)
}

func (a *app) draw() {
	a.drawQueued = false
	all := a.drawAll
	a.drawAll = false
	v := a.view
	if v == nil {
		v = live.New("reactor")
	}
	if v.Dirty || all {
		v.Dirty = false
		if h := v.TimelineHeight(140, 420); h != a.timelineH {
			a.timelineH = h
			a.timeline.el.Get("style").Set("height", ftoa(h, 0)+"px")
		}
		a.timeline.draw(v.Timeline(a.timeline.size()))
		a.showZoom(v)
		a.showLoop(v)
		lag := v.LagChart(a.lagChart.size())
		a.lagChart.draw(lag)
		setData(a.lagChart.el, "points", itoa(lag.Points))
		a.rpsChart.draw(v.ThroughputChart(a.rpsChart.size()))
		// The whole run's histogram once its summary came, else the live
		// one with percentiles estimated from it.
		w, h := a.histChart.size()
		if f, ok := a.finals[v]; ok {
			a.histChart.draw(live.Histogram(w, h, f.dist.Buckets, f.p50, f.p90, f.p99))
		} else {
			b := v.Stats.Histogram
			a.histChart.draw(live.Histogram(w, h, b, live.Percentile(b, 0.5), live.Percentile(b, 0.9), live.Percentile(b, 0.99)))
		}
		if v.T0 != 0 {
			setText(byID("inflight"), itoa(v.Running()))
		}
	}
	if all {
		var ds []live.Dist
		keys := experiment.ModelNames()
		for _, m := range browserModels {
			keys = append(keys, m.id)
		}
		rows := document.Call("querySelectorAll", "#compare-table tr.variant-row")
		for i := 0; i < rows.Length(); i++ {
			keys = append(keys, rows.Index(i).Get("dataset").Get("variant").String())
		}
		seen := map[string]bool{}
		for _, m := range keys {
			if d, ok := a.dists[m]; ok && !seen[m] {
				seen[m] = true
				ds = append(ds, d)
			}
		}
		w, h := a.overlay.size()
		a.overlay.draw(live.Overlay(w, h, ds))
		var drawn []string
		for _, d := range ds {
			drawn = append(drawn, d.Model)
		}
		setData(a.overlay.el, "models", strings.Join(drawn, " "))
		a.drawMultiples(keys)
	}
}

// latencyText is a summary's percentile d for a table cell: "–" when no
// request got a response to time (every one failed before it), never a
// 0.00 ms that no request took.
func latencyText(sum *stream.LoadSummary, d time.Duration) string {
	if sum.Latency.Max == 0 {
		return "–"
	}
	return live.FormatMS(float64(d) / 1e6)
}

// showStopped makes the live panel say that the model has stopped: its
// workers are reaped, so every slot of the scoreboard is open (".", as
// mod_status shows a slot with no process) and no connection is left,
// where the last stats, taken while the load ran, said W and "Writing: 40".
func (a *app) showStopped(v *live.View) {
	board := byID("scoreboard")
	n := len([]rune(board.Get("textContent").String()))
	if n == 0 {
		n = len(v.Lanes)
	}
	a.showScoreboard(strings.Repeat(".", n))
	if byID("stub-status").Get("textContent").String() != "" {
		setText(byID("stub-status"), "Active connections: 0 (stopped: its workers are gone)")
	}
	setText(byID("inflight"), "0")
}

// clearOtherExperiments empties the compare table's rows that hold
// another experiment's run than key's, with their group rows, their
// latency distributions and their timelines: the table, the overlay and
// the live view compare one experiment's runs, never an earlier one's
// beside them.
func (a *app) clearOtherExperiments(key string) {
	for id, k := range a.summaries {
		if k == key {
			continue
		}
		delete(a.summaries, id)
		row := elementByID(id)
		if row.IsNull() {
			continue
		}
		rk := rowRunKey(row)
		delete(a.dists, rk)
		if v := a.views[rk]; v != nil {
			delete(a.finals, v)
			delete(a.views, rk)
		}
		for next := row.Get("nextElementSibling"); !next.IsNull() && next.Get("classList").Call("contains", "group-row").Bool(); next = row.Get("nextElementSibling") {
			next.Call("remove")
		}
		cells := row.Call("querySelectorAll", "td[data-stat]")
		for i := 0; i < cells.Length(); i++ {
			c := cells.Index(i)
			text := "–"
			if c.Get("dataset").Get("stat").String() == "sentence" {
				text = ""
			}
			setText(c, text)
			c.Call("removeAttribute", "data-ms")
			c.Call("removeAttribute", "title")
		}
		setData(row, "filled", "")
		setData(row, "stale", "")
	}
	a.queueDraw(true)
}
