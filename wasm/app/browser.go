//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// "Run in browser": the handler built for GOOS=js (POST /api/build/js) and
// run in this tab by www/handlers.js under one of three browser models,
// with the form's load generated here, in the page, and shown in the same
// live view and compare table as a host run.
//
// The host builds; everything after runs in the tab. A source built once is
// remembered (its module stays in memory), so it runs again with the host
// gone. The load generator is Go on the page's thread: under the page
// loop it waits with everything else while a handler holds that thread,
// which is what the heartbeat shows.

// browserModels are the models of www/handlers.js, with what they stand
// for and the host model each resembles (its colour in the compare view).
var browserModels = []struct {
	id, name, analog string
}{
	{"instance-per-request", "instance per request", "process"},
	{"worker-pool", "worker pool", "thread"},
	{"page-loop", "page loop", "reactor"},
}

// histBounds are the live histogram's bucket bounds (ms), as the host's
// stats events have them; -1 is +Inf.
var histBounds = append(slices.Clone(experiment.HistogramBoundsMS), -1) // -1: the unbounded last bucket

// built remembers the module of each source built for the browser.
var built = map[string]string{} // experiment.Experiment{Source}.ShareID() → module URL

// brun is the browser run in progress, if any.
var brun *browserRun

type browserRun struct {
	model, name string
	stopped     bool
	lastTick    float64 // when the last stats window ended (performance.now)
	seq         uint64  // request ids
	mu          sync.Mutex
	results     []browserResult
}

// browserResult is what mpmlabBrowser.fetch resolves with.
type browserResult struct {
	Status  int     `json:"status"`
	Error   string  `json:"error"`
	MS      float64 `json:"ms"`
	StartMS float64 `json:"startMs"`
	Worker  string  `json:"worker"`
	T0      float64 `json:"t0"`
	T1      float64 `json:"t1"`
	// RanAt is when its handler first ran on its lane's thread (0: not
	// known); RunMS how long it held the thread in all, HoldMS at most at
	// once (goserver.js's meter).
	RanAt  float64 `json:"ranAt"`
	RunMS  float64 `json:"runMs"`
	HoldMS float64 `json:"holdMs"`
}

func (r *browserResult) ok() bool { return r.Error == "" && r.Status >= 200 && r.Status < 400 }

// bindBrowser wires the browser controls; main calls it once.
func (a *app) bindBrowser() {
	sel := byID("browser-model")
	restoreBrowser()
	showModel := func() { setData(byID("browser"), "model", sel.Get("value").String()) }
	showModel()
	on(sel, "change", func(js.Value) { showModel(); keepBrowser() })
	on(byID("browser-workers"), "input", func(js.Value) { keepBrowser() })
	on(byID("run-browser"), "click", func(js.Value) { a.runBrowser() })
	on(byID("browser-workers"), "keydown", func(e js.Value) {
		if e.Get("key").String() == "Enter" { // not the form's submit: that is Run on host
			e.Call("preventDefault")
			a.runBrowser()
		}
	})
	on(byID("stop"), "click", func(js.Value) {
		if brun != nil {
			brun.stopped = true
			// Requests in flight end now ("stopped"), a runaway too —
			// except on the page loop, where nothing can interrupt one.
			global.Get("mpmlabBrowser").Call("stop")
		}
	})
}

// runBrowser builds the form's handler for the browser, starts the chosen
// model in the tab and sends the form's load to it.
func (a *app) runBrowser() {
	if a.run != nil || brun != nil {
		return
	}
	runErr := byID("run-error")
	a.error(runErr, "")
	a.form.clearErrors()
	e, err := a.experiment()
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		a.showError(runErr, err.Error())
		return
	}
	e = e.Normalize()
	if n := e.Load.Clients(); n > experiment.MaxConcurrency {
		// The tab's models serve on the page's own threads, from requests
		// the page itself sends: thousands of clients would only measure
		// the page choking.
		a.showError(runErr, "in this tab a load may have at most "+itoa(experiment.MaxConcurrency)+" clients; this one has "+itoa(n)+": run it on the host's models (Run or Compare)")
		return
	}
	model := byID("browser-model").Get("value").String()
	workers, _ := strconv.Atoi(byID("browser-workers").Get("value").String())
	workers = min(max(workers, 1), 8)
	name := model
	for _, m := range browserModels {
		if m.id == model {
			name = m.name
		}
	}
	if model == "worker-pool" {
		name += " (" + plural(workers, "worker") + ")"
	}
	r := &browserRun{model: model, name: name}
	brun = r
	a.run = &run{key: rowKey(e)} // holds off host runs; no event stream
	a.running(true)
	byID("run-browser").Set("disabled", true)
	setData(document.Get("body"), "browserRunning", "1")
	showRecording(nil) // the live view is this run's from now on
	a.clearOtherExperiments(a.run.key)
	key := a.run.key
	go func() {
		defer func() {
			brun = nil
			a.runEnded("")
			byID("run-browser").Set("disabled", false)
			setData(document.Get("body"), "browserRunning", "")
			setData(byID("status"), "busy", "")
		}()
		a.ed.SetDiagnostics(nil)
		url, err := a.buildForBrowser(e.Source)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && len(ae.Diagnostics) > 0 {
				a.ed.SetDiagnostics(ae.Diagnostics)
			}
			setText(byID("status"), "")
			a.showError(runErr, "build for the browser: "+err.Error())
			return
		}
		setText(byID("status"), "starting the "+name+" in this tab…")
		opts := global.Get("Object").New()
		opts.Set("model", model)
		opts.Set("workers", workers)
		opts.Set("wasmURL", url)
		opts.Set("timeoutMs", e.Knobs.TimeoutMS)
		// The experiment's environment and files, as the host gives them.
		env, files := map[string]any{}, map[string]any{}
		for k, v := range e.Env {
			env[k] = v
		}
		for _, f := range e.Source.Files {
			files[f.Name] = f.Data
		}
		opts.Set("env", env)
		opts.Set("files", files)
		started, err := await(global.Get("mpmlabBrowser").Call("start", opts))
		if err != nil {
			setText(byID("status"), "")
			a.error(runErr, "could not start the "+name+": "+err.Error())
			return
		}
		var starts []float64
		for i := 0; i < started.Get("startMs").Length(); i++ {
			if ms := started.Get("startMs").Index(i).Float(); ms > 0 { // 0: instances start per request
				starts = append(starts, ms)
			}
		}
		a.loadBrowser(r, e.Load, key, starts)
	}()
}

// buildForBrowser returns the URL of the source's js module, building it
// (with progress in #status) unless this page built it already.
func (a *app) buildForBrowser(src experiment.Source) (string, error) {
	key := experiment.Experiment{Source: src}.ShareID()
	if url, ok := built[key]; ok {
		return url, nil
	}
	status := byID("status")
	setData(status, "busy", "1")
	setText(status, "building for the browser…")
	opts := global.Get("Object").New()
	opts.Set("method", "POST")
	headers := global.Get("Object").New()
	headers.Set("Content-Type", "application/json")
	headers.Set(tabHeader, tabID)
	opts.Set("headers", headers)
	b, _ := json.Marshal(map[string]any{"source": src})
	opts.Set("body", string(b))
	resp, err := await(global.Call("fetch", apiURL("/api/build/js?progress=1"), opts))
	if msg := needHost("Building an edit for the browser"); err != nil && msg != "" {
		return "", &apiError{Message: msg}
	}
	if err != nil {
		return "", &apiError{Message: "cannot reach the mpmlab host, which builds handlers (a source built before still runs in the browser without it): " + err.Error()}
	}
	if st := resp.Get("status").Int(); st != 200 {
		text, _ := await(resp.Call("text"))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(text.String()), &e) != nil || e.Error == "" {
			e.Error = resp.Get("statusText").String()
		}
		return "", &apiError{Status: st, Message: e.Error}
	}
	reader := resp.Get("body").Call("getReader")
	decoder := global.Get("TextDecoder").New()
	streamOpt := global.Get("Object").New()
	streamOpt.Set("stream", true)
	var buf string
	for {
		chunk, err := await(reader.Call("read"))
		if err != nil {
			return "", &apiError{Message: "lost the host while building: " + err.Error()}
		}
		if chunk.Get("done").Bool() {
			return "", &apiError{Message: "the build ended without a result"}
		}
		buf += decoder.Call("decode", chunk.Get("value"), streamOpt).String()
		for {
			i := strings.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := buf[:i]
			buf = buf[i+1:]
			var m struct {
				Progress string `json:"progress"`
				Result   *struct {
					URL string `json:"url"`
				} `json:"result"`
				Error       string              `json:"error"`
				Status      int                 `json:"status"`
				Diagnostics []stream.Diagnostic `json:"diagnostics"`
			}
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch {
			case m.Result != nil:
				built[key] = apiURL(m.Result.URL)
				return built[key], nil
			case m.Error != "":
				return "", &apiError{Status: m.Status, Message: m.Error, Diagnostics: m.Diagnostics}
			case m.Progress != "":
				setText(status, m.Progress)
			}
		}
	}
}

// loadBrowser sends the load to the running browser model: a closed loop
// of load.concurrency clients, or an open loop at load.rate (at most
// load.concurrency in flight; latency counts from each request's intended
// start), for load.requests requests or load.duration_ms.
func (a *app) loadBrowser(r *browserRun, load experiment.Load, key string, starts []float64) {
	B := global.Get("mpmlabBrowser")
	now := func() float64 { return B.Get("heartbeat").Call("now").Float() }
	v := live.New("reactor") // lanes that serve many requests at once
	v.Groups = groupNames(load)
	showGroupLegend(v.Groups)
	a.views[r.model] = v
	delete(a.finals, v)
	a.view = v
	a.resetLive(r.model)
	setText(byID("live-model"), r.name+" — in this tab")
	setData(byID("live"), "state", "running")
	setText(byID("status"), "running under the "+r.name+", in this tab…")

	t0 := now()
	deadline := math.Inf(1)
	if load.DurationMS > 0 {
		deadline = t0 + float64(load.DurationMS)
	}
	total := load.Requests
	if total == 0 && load.DurationMS == 0 {
		total = experiment.DefaultRequests
	}

	var (
		mu       sync.Mutex
		sent     int
		inflight int
		wg       sync.WaitGroup
	)
	// Each group of the load (one, for a load without groups) sends its
	// own request at its own arrival; the whole load's bounds end them all.
	groups := load.Traffic()
	if len(load.Groups) == 0 {
		total, deadline = 0, math.Inf(1) // the one group's own bounds are the load's
	}
	for _, g := range groups {
		gDeadline := deadline
		if g.DurationMS > 0 {
			gDeadline = min(gDeadline, t0+float64(g.DurationMS))
		}
		gTotal, gSent := g.Requests, 0
		if gTotal == 0 && g.DurationMS == 0 && total == 0 && math.IsInf(deadline, 1) {
			gTotal = experiment.DefaultRequests
		}
		// next claims a request of the group, or reports its load is over.
		next := func() bool {
			mu.Lock()
			defer mu.Unlock()
			if r.stopped || (total > 0 && sent >= total) || (gTotal > 0 && gSent >= gTotal) || now() >= gDeadline {
				return false
			}
			sent++
			gSent++
			return true
		}
		reqInit := global.Get("Object").New()
		reqInit.Set("method", g.Method)
		if g.Body != "" && g.Method != "GET" && g.Method != "HEAD" {
			reqInit.Set("body", g.Body)
		}
		if len(g.Headers) > 0 {
			h := global.Get("Object").New()
			for k, v := range g.Headers {
				h.Set(k, v)
			}
			reqInit.Set("headers", h)
		}
		send := func(intended float64) {
			mu.Lock()
			inflight++
			r.seq++
			id := r.seq
			mu.Unlock()
			init := global.Get("Object").Call("assign", global.Get("Object").New(), reqInit)
			init.Set("id", id) // names it in the lane's passes
			p := B.Call("fetch", g.Path, init)
			lane := laneOf(p.Get("worker").String())
			start := now()
			if intended > 0 {
				start = min(start, intended)
			}
			v.AddTrace(&stream.Trace{Events: []stream.Event{{Kind: stream.EventReqStart, T: int64(start * 1e6), Process: lane, Req: id, Group: g.Name, Method: g.Method, Path: g.Path}}})
			res, err := await(p)
			var br browserResult
			if err != nil {
				br = browserResult{Error: err.Error(), T0: intended, T1: now()}
			} else {
				json.Unmarshal([]byte(global.Get("JSON").Call("stringify", res).String()), &br)
			}
			if intended > 0 && intended < br.T0 { // open loop: waited for a slot
				br.MS += br.T0 - intended
				br.T0 = intended
			}
			mu.Lock()
			inflight--
			mu.Unlock()
			r.mu.Lock()
			r.results = append(r.results, br)
			r.mu.Unlock()
			a.endBrowserSpan(v, r.model, lane, id, start, &br)
		}
		if g.Rate > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots := make(chan struct{}, g.Concurrency)
				for i := 0; next(); i++ {
					at := t0 + float64(i)*1000/g.Rate
					if d := at - now(); d > 0 {
						time.Sleep(time.Duration(d * float64(time.Millisecond)))
					}
					slots <- struct{}{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						send(at)
						<-slots
					}()
				}
			}()
		} else {
			for range g.Concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next() {
						send(0)
					}
				}()
			}
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
		mu.Lock()
		n := inflight
		mu.Unlock()
		browserPasses(v, t0)
		nameLanes(v, r.model)
		last = a.browserStats(r, v, t0, now(), last, n)
	}
	v.Stop()
	gap := B.Get("heartbeat").Call("maxGapSince", t0).Float()
	a.browserSummary(r, key, now()-t0, starts, gap)
	setData(byID("live"), "state", "stopped")
	msg := "done in this tab"
	if r.stopped {
		msg = "stopped by the user"
	}
	setText(byID("status"), msg)
}

// laneOf is the live view's lane of a browser lane: worker i is lane i;
// the page loop, and the fresh instances, are lane 0.
func laneOf(worker string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(worker, "worker "))
	return n
}

// endBrowserSpan ends a request's bar on its lane, with its phases as the
// host's req_end has them: waiting for the lane's thread from start until
// its handler first ran (req_run), then served, of which it held the thread
// br.RunMS.
func (a *app) endBrowserSpan(v *live.View, model string, lane int, id uint64, start float64, br *browserResult) {
	ns := func(ms float64) int64 { return int64(ms * 1e6) }
	ev := stream.Event{Kind: stream.EventReqEnd, T: ns(br.T1), Dur: ns(br.MS), Process: lane, Status: br.Status, Req: id, Cause: br.Error}
	var evs []stream.Event
	if br.RanAt > 0 {
		ran := min(max(br.RanAt, start), br.T1)
		evs = append(evs, stream.Event{Kind: stream.EventReqRun, T: ns(ran), Process: lane, Req: id})
		ev.Wait, ev.Service = ns(ran-start), max(ns(br.T1-ran), 1)
		ev.Run, ev.Hold = ns(br.RunMS), ns(br.HoldMS)
	}
	v.AddTrace(&stream.Trace{Events: append(evs, ev)})
	nameLanes(v, model)
	a.queueDraw(false)
}

// browserPasses adds the lanes' passes since the last call to the view, as
// the host's reactor sends its loop's (stream.EventPass): each lane of a
// browser model is one JavaScript thread on which one instance runs at a
// time, so it is drawn as a loop, its track showing which request held it.
// Passes that ended before the load started (t0, ms) are left out.
func browserPasses(v *live.View, t0 float64) {
	var lanes []struct {
		Lane   string `json:"lane"`
		Passes []struct {
			T, Dur, Busy float64
			N            int
			Segs         []struct {
				Req    uint64
				T, Dur float64
				Where  string
			}
		} `json:"passes"`
		Dropped int `json:"dropped"`
	}
	raw := global.Get("JSON").Call("stringify", global.Get("mpmlabBrowser").Call("passes")).String()
	if json.Unmarshal([]byte(raw), &lanes) != nil {
		return
	}
	ns := func(ms float64) int64 { return int64(ms * 1e6) }
	var evs []stream.Event
	dropped := 0
	for _, l := range lanes {
		dropped += l.Dropped
		e := stream.Event{Kind: stream.EventPass, Process: laneOf(l.Lane)}
		for _, p := range l.Passes {
			if p.T+p.Dur < t0 {
				continue
			}
			ps := stream.Pass{T: ns(p.T), Dur: ns(p.Dur), Busy: ns(p.Busy), N: p.N}
			for _, sg := range p.Segs {
				ps.Segs = append(ps.Segs, stream.PassSeg{Req: sg.Req, T: ns(sg.T), Dur: ns(sg.Dur), Where: sg.Where})
			}
			e.Passes = append(e.Passes, ps)
		}
		if len(e.Passes) > 0 {
			e.T = e.Passes[0].T
			evs = append(evs, e)
		}
	}
	if len(evs) > 0 || dropped > 0 {
		v.AddTrace(&stream.Trace{Events: evs, Dropped: dropped})
	}
}

// nameLanes names the view's lanes after the browser model's threads.
func nameLanes(v *live.View, model string) {
	for _, l := range v.Lanes {
		switch model {
		case "page-loop":
			l.Name = "page loop"
		case "worker-pool":
			l.Name = "worker " + strconv.Itoa(l.Process)
		default:
			l.Name = "instance worker" // one worker thread, a fresh instance per request
		}
	}
}

// browserStats shows the live numbers: answers since the last tick (from
// index last of the results) and the whole run's histogram. It returns the
// index to start the next window from.
func (a *app) browserStats(r *browserRun, v *live.View, t0, t float64, last, inflight int) int {
	r.mu.Lock()
	all := slices.Clone(r.results)
	r.mu.Unlock()
	s := stream.Stats{Model: r.model, TMS: t - t0, LoopUtil: -1, Busy: inflight}
	var window []float64
	for i, br := range all {
		if br.ok() {
			s.OK++
		} else {
			s.Errors++
		}
		if i >= last {
			window = append(window, br.MS)
		}
	}
	slices.Sort(window)
	if span := t - r.lastTick; r.lastTick > 0 && span > 0 {
		s.RPS = float64(len(window)) * 1000 / span
	} else if t > t0 {
		s.RPS = float64(len(window)) * 1000 / (t - t0)
	}
	r.lastTick = t
	if len(window) > 0 {
		s.P50MS, s.P90MS, s.P99MS = quantile(window, 0.5), quantile(window, 0.9), quantile(window, 0.99)
	}
	s.Histogram = make([]stream.Bucket, len(histBounds))
	for i, b := range histBounds {
		s.Histogram[i].LeMS = b
	}
	for _, br := range all {
		i := slices.IndexFunc(histBounds, func(b float64) bool { return b < 0 || br.MS <= b })
		s.Histogram[i].Count++
	}
	// The scoreboard: W for a lane serving, _ for an idle one.
	st := global.Get("mpmlabBrowser").Call("status").Get("lanes")
	var board strings.Builder
	for i := 0; i < st.Length(); i++ {
		if st.Index(i).Get("inflight").Int() > 0 {
			board.WriteByte('W')
		} else {
			board.WriteByte('_')
		}
	}
	s.Scoreboard = board.String()
	s.Workers = st.Length()
	v.AddStats(&s)
	if a.view == v {
		a.showStats(&s)
		setText(byID("inflight"), itoa(inflight))
	}
	a.queueDraw(false)
	return len(all)
}

// browserSummary fills the model's row of the compare table, as a host
// run's summary does, with a sentence on what the tab went through.
func (a *app) browserSummary(r *browserRun, key string, elapsed float64, starts []float64, gap float64) {
	r.mu.Lock()
	all := slices.Clone(r.results)
	r.mu.Unlock()
	var lat []float64
	codes := map[int]int{}
	kinds := map[string]int{}
	ok := 0
	for _, br := range all {
		lat = append(lat, br.MS)
		switch {
		case br.Error != "":
			kinds["error"]++
		default:
			codes[br.Status]++
		}
		if br.ok() {
			ok++
		}
		if br.StartMS > 0 {
			starts = append(starts, br.StartMS)
		}
	}
	slices.Sort(lat)
	ns := func(ms float64) time.Duration { return time.Duration(ms * 1e6) }
	var p50, p99 float64
	var latency stream.LatencyStats
	if len(lat) > 0 {
		p50, p99 = quantile(lat, 0.5), quantile(lat, 0.99)
		latency = stream.LatencyStats{Min: ns(lat[0]), P50: ns(p50), P90: ns(quantile(lat, 0.9)), P99: ns(p99), Max: ns(lat[len(lat)-1])}
	}
	var hist []stream.LatencyBucket
	for _, b := range logBuckets(lat) {
		hist = append(hist, stream.LatencyBucket{Le: ns(b.LeMS), Count: b.Count})
	}
	rps := 0.0
	if elapsed > 0 {
		rps = float64(len(all)) * 1000 / elapsed
	}
	slices.Sort(starts)
	var sentence string
	switch r.model {
	case "page-loop":
		if gap >= 100 {
			sentence = "one instance on the page's own thread: a handler held it and the tab froze for up to " + live.FormatMS(gap) +
				" (heartbeat), the load generator and every other request waiting with it"
		} else {
			sentence = "one instance on the page's own thread; no handler held it for long (largest heartbeat gap " + live.FormatMS(gap) + ")"
		}
	case "worker-pool":
		sentence = r.name + ", one long-lived instance each on its own thread"
		if gap < 100 {
			sentence += "; the page stayed free (largest heartbeat gap " + live.FormatMS(gap) + ")"
		} else {
			sentence += "; the page's thread was held for " + live.FormatMS(gap) + ", not by the handler (a busy machine?)"
		}
	default:
		sentence = "a fresh Go instance for each of " + itoa(len(all)) + " requests"
		if len(starts) > 0 {
			sentence += " (start p50 " + live.FormatMS(quantile(starts, 0.5)) + ")"
		}
		sentence += ": nothing is kept between requests"
	}
	sentence += "; p99 " + live.FormatMS(p99)
	a.showSummaryRow(&stream.Result{
		Model: r.model,
		Summary: &stream.LoadSummary{
			Requests: len(all), Succeeded: ok, Errors: len(all) - ok, RPS: rps,
			Latency: latency, Histogram: hist, StatusCodes: codes, ErrorKinds: kinds,
		},
		Sentence: sentence,
	}, key)
	for _, m := range browserModels {
		if d, ok := a.dists[m.id]; ok && m.id == r.model {
			d.Model = m.analog // its colour: the host model it resembles
			a.dists[m.id] = d
		}
	}
	a.queueDraw(true)
}

// quantile is the q-quantile of sorted xs (experiment.Percentile).
func quantile(sorted []float64, q float64) float64 { return experiment.Percentile(sorted, q) }

// logBuckets distributes sorted latencies (ms) over 12 log-spaced buckets
// from the least to the greatest, as the host's summaries do.
func logBuckets(sorted []float64) []stream.Bucket {
	const n = 12
	if len(sorted) == 0 {
		return nil
	}
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if lo == hi {
		return []stream.Bucket{{LeMS: hi, Count: len(sorted)}}
	}
	flo := math.Max(lo, 1e-3)
	var out []stream.Bucket
	for i := 1; i <= n; i++ {
		le := flo * math.Pow(hi/flo, float64(i)/n)
		if i == n {
			le = hi
		}
		if len(out) > 0 && le <= out[len(out)-1].LeMS {
			continue
		}
		out = append(out, stream.Bucket{LeMS: le})
	}
	j := 0
	for _, x := range sorted {
		for j < len(out)-1 && x > out[j].LeMS {
			j++
		}
		out[j].Count++
	}
	return out
}
