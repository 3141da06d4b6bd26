package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// The browser models (www/handlers.js): the handler built for GOOS=js and
// run in the tab by syumai/workers, as an instance per request, a pool of
// Web Workers, or one instance on the page's own thread. The tests drive
// the page's JS API (mpmlabBrowser) in real Chromium against the real
// "mpmlab serve"; TestBrowserRunInBrowser goes through the UI.

// jsModule builds an example for the browser (POST /api/build/js) and
// returns its URL.
func (s *served) jsModule(t *testing.T, name string) string {
	t.Helper()
	body := s.wantStatus(t, 200, "POST", "/api/build/js", map[string]any{"source": s.example(t, name)})
	var res struct {
		URL       string  `json:"url"`
		Bytes     int     `json:"bytes"`
		GzipBytes int     `json:"gzip_bytes"`
		ElapsedMS float64 `json:"elapsed_ms"`
		Cached    bool    `json:"cached"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.URL == "" {
		t.Fatalf("build/js %s: %v %s", name, err, body)
	}
	t.Logf("%s for the browser: %d bytes, %d gzip, built in %.0f ms (cached %v)", name, res.Bytes, res.GzipBytes, res.ElapsedMS, res.Cached)
	return res.URL
}

// await evaluates a JavaScript expression whose value is a promise of
// something JSON-able, into out.
func (tb *tab) await(expr string, out any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string]("(async () => JSON.stringify(await ("+expr+")))()", chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		tb.t.Fatalf("evaluating %s: %v (%s)", expr, err, raw)
	}
}

// browserResult is what mpmlabBrowser.fetch resolves with.
type browserResult struct {
	Status   int     `json:"status"`
	Body     string  `json:"body"`
	Error    string  `json:"error"`
	MS       float64 `json:"ms"`
	ServerMS float64 `json:"serverMs"`
	StartMS  float64 `json:"startMs"`
	Worker   string  `json:"worker"`
	T0       float64 `json:"t0"`
	T1       float64 `json:"t1"`
}

func (r browserResult) ok(t *testing.T) {
	t.Helper()
	if r.Status != 200 || r.Error != "" {
		t.Fatalf("request failed: status %d, error %q, body %q", r.Status, r.Error, r.Body)
	}
}

// startModel starts a browser model with a module and returns each
// instance's start time.
func (tb *tab) startModel(model string, workers int, url string) []float64 {
	tb.t.Helper()
	var res struct {
		Lanes   []string  `json:"lanes"`
		StartMS []float64 `json:"startMs"`
	}
	tb.await(fmt.Sprintf(`mpmlabBrowser.start({model: %q, workers: %d, wasmURL: %q})`, model, workers, url), &res)
	return res.StartMS
}

// Script fragments: sleep a little, and send requests.
const jsSettle = `new Promise(r => setTimeout(r, 150))`

func TestBrowserModels(t *testing.T) {
	srv := startServe(t, "")
	browser := newBrowser(t)
	tb := newTab(t, browser, false)
	tb.open(srv.URL + "/")
	tb.wait(`typeof mpmlabBrowser === "object"`, 10*time.Second, "mpmlabBrowser")
	cpu, counter, sleep, hello := srv.jsModule(t, "cpu"), srv.jsModule(t, "counter"), srv.jsModule(t, "sleep"), srv.jsModule(t, "hello")

	// A CPU-bound request holds the page loop: the heartbeat stops for as
	// long, and the fast requests queued behind it answer only after it.
	// (Nothing can send a request while the page's thread is held: they
	// are sent just after it, before it runs.)
	t.Run("page loop freezes", func(t *testing.T) {
		tb.t = t
		tb.startModel("page-loop", 0, cpu)
		var res struct {
			CPU  browserResult   `json:"cpu"`
			Fast []browserResult `json:"fast"`
			Gap  float64         `json:"gap"`
		}
		tb.await(`(async () => {
			const B = mpmlabBrowser;
			await B.fetch("/hello");
			await `+jsSettle+`;
			const since = B.heartbeat.now();
			const cpu = B.fetch("/?ms=300");
			const fast = [1, 2, 3, 4, 5].map(() => B.fetch("/hello"));
			const out = {cpu: await cpu, fast: await Promise.all(fast)};
			await `+jsSettle+`;
			out.gap = B.heartbeat.maxGapSince(since);
			return out;
		})()`, &res)
		res.CPU.ok(t)
		t.Logf("page loop: cpu 300 ms answered in %.0f ms; heartbeat's largest gap %.0f ms; fast requests %v ms", res.CPU.MS, res.Gap, msList(res.Fast))
		if res.Gap < 250 {
			t.Errorf("the heartbeat's largest gap is %.0f ms under a 300 ms CPU request on the page loop; want ≥ 250", res.Gap)
		}
		for _, f := range res.Fast {
			f.ok(t)
			if f.T1 < res.CPU.T1 {
				t.Errorf("a fast request finished at %.0f ms, before the CPU request it queued behind (%.0f ms)", f.T1, res.CPU.T1)
			}
			if !strings.Contains(f.Body, "page loop") {
				t.Errorf("fast answer %q is not from the page loop", f.Body)
			}
		}
		tb.wait(`+document.getElementById("heartbeat").dataset.maxGapMs >= 250 && document.getElementById("heartbeat").dataset.state === "frozen" && document.querySelector("#heartbeat .why").textContent.includes("page loop")`, 5*time.Second, "the heartbeat to show the freeze and why")
		tb.screenshot("browser-page-loop-freeze")
	})

	// The same request on a worker of a pool of two: the page never
	// stops, and fast requests go to the other worker and answer at once.
	t.Run("worker pool", func(t *testing.T) {
		tb.t = t
		start := tb.startModel("worker-pool", 2, cpu)
		var res struct {
			CPU  browserResult   `json:"cpu"`
			Fast []browserResult `json:"fast"`
			Gap  float64         `json:"gap"`
		}
		tb.await(`(async () => {
			const B = mpmlabBrowser;
			await Promise.all([B.fetch("/hello", {worker: 1}), B.fetch("/hello", {worker: 2})]);
			await `+jsSettle+`;
			const since = B.heartbeat.now();
			const cpu = B.fetch("/?ms=300");
			const fast = [];
			for (let i = 0; i < 5; i++) fast.push(await B.fetch("/hello"));
			const out = {cpu: await cpu, fast};
			await `+jsSettle+`;
			out.gap = B.heartbeat.maxGapSince(since);
			return out;
		})()`, &res)
		res.CPU.ok(t)
		t.Logf("worker pool of 2 (instances started in %v ms): cpu on %s in %.0f ms; heartbeat's largest gap %.0f ms; fast requests %v ms", start, res.CPU.Worker, res.CPU.MS, res.Gap, msList(res.Fast))
		if res.Gap >= 100 {
			t.Errorf("the heartbeat's largest gap is %.0f ms with the CPU request on a worker; want < 100", res.Gap)
		}
		for _, f := range res.Fast {
			f.ok(t)
			if f.Worker == res.CPU.Worker {
				t.Errorf("a fast request went to %s, busy with the CPU request", f.Worker)
			}
			// Served beside the CPU request, not behind it: each ends
			// while it still runs, in a fraction of its time (a ratio in
			// the same run, not a timing a busy machine could break).
			if f.MS >= res.CPU.MS/3 || f.T1 > res.CPU.T1 {
				t.Errorf("a fast request on %s took %.1f ms (ended at %.0f, the CPU request at %.0f, which took %.0f ms); want under a third of it, during it", f.Worker, f.MS, f.T1, res.CPU.T1, res.CPU.MS)
			}
		}
	})

	// A fresh instance per request forgets everything: the global counter
	// reads 1 every time; the page loop's one instance counts to 10.
	t.Run("instance per request", func(t *testing.T) {
		tb.t = t
		count := func() []browserResult {
			var rs []browserResult
			tb.await(`(async () => { const rs = []; for (let i = 0; i < 10; i++) rs.push(await mpmlabBrowser.fetch("/")); return rs })()`, &rs)
			return rs
		}
		tb.startModel("instance-per-request", 0, counter)
		per := count()
		instances := map[string]bool{}
		for _, r := range per {
			r.ok(t)
			instances[r.Worker] = true
			if !strings.HasPrefix(r.Body, "global 1, shared 1 on instance ") {
				t.Errorf("instance per request answered %q; want global 1 from a fresh instance", r.Body)
			}
		}
		if len(instances) != 10 {
			t.Errorf("10 requests ran on %d instances, want 10", len(instances))
		}
		tb.startModel("page-loop", 0, counter)
		for i, r := range count() {
			r.ok(t)
			if want := fmt.Sprintf("global %d, shared %d on page loop", i+1, i+1); !strings.HasPrefix(r.Body, want) {
				t.Errorf("page loop request %d answered %q; want %q", i+1, r.Body, want)
			}
		}
	})

	// time.Sleep parks a goroutine: one loop serves 20 at once.
	t.Run("sleep on the page loop", func(t *testing.T) {
		tb.t = t
		tb.startModel("page-loop", 0, sleep)
		var res struct {
			One  float64         `json:"one"`
			Wall float64         `json:"wall"`
			All  []browserResult `json:"all"`
		}
		tb.await(`(async () => {
			const B = mpmlabBrowser;
			await B.fetch("/");
			let t0 = performance.now();
			for (let i = 0; i < 3; i++) await B.fetch("/");
			const one = (performance.now() - t0) / 3;
			t0 = performance.now();
			const all = await Promise.all(Array.from({length: 20}, () => B.fetch("/")));
			return {one, wall: performance.now() - t0, all};
		})()`, &res)
		for _, r := range res.All {
			r.ok(t)
		}
		// Against one sleep's time measured in the same run: 20 served
		// one after another would take 20 of them; parked together, a
		// few.
		t.Logf("20 concurrent 50 ms sleeps on the page loop: %.0f ms; one alone: %.0f ms", res.Wall, res.One)
		if res.Wall >= 20*res.One/3 {
			t.Errorf("20 concurrent sleeps took %.0f ms on the page loop, one alone %.0f ms; want under a third of 20 in turn", res.Wall, res.One)
		}
	})

	// Stop halts the page loop's instance: a request in flight answers
	// "stopped" instead of its handler's answer, and the halted instance
	// stays quiet past its sleep (no error, no answer).
	t.Run("stop halts the page loop", func(t *testing.T) {
		tb.t = t
		tb.startModel("page-loop", 0, sleep)
		var res struct {
			InFlight browserResult `json:"inFlight"`
			After    browserResult `json:"after"`
			Lanes    int           `json:"lanes"`
		}
		tb.await(`(async () => {
			const B = mpmlabBrowser;
			await B.fetch("/");
			const p = B.fetch("/");
			await new Promise(r => setTimeout(r, 10));
			B.stop();
			const inFlight = await p;
			await `+jsSettle+`;
			return {inFlight, after: await B.fetch("/"), lanes: B.status().lanes.length};
		})()`, &res)
		if res.InFlight.Error != "stopped" {
			t.Errorf("a request in flight on a stopped page loop answered %d %q, error %q; want error \"stopped\"", res.InFlight.Status, res.InFlight.Body, res.InFlight.Error)
		}
		if res.After.Error == "" || res.Lanes != 0 {
			t.Errorf("after Stop: %d lanes, a request answered %q (error %q); want none", res.Lanes, res.After.Body, res.After.Error)
		}
	})

	// The worker code fetched at load failed (the host was down then):
	// starting a worker model fetches it again.
	t.Run("worker code fetched again", func(t *testing.T) {
		other := newTab(t, browser, true)
		other.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
				const f = window.fetch;
				let n = 0;
				window.workerCodeFailed = false;
				window.fetch = function (u, o) {
					if (String(u).endsWith("/handler-worker.js") && n++ === 0) {
						window.workerCodeFailed = true;
						return Promise.reject(new TypeError("the host is down (test)"));
					}
					return f.call(this, u, o);
				};
			})()`})
			return err
		}))
		other.open(srv.URL + "/")
		var res struct {
			Failed bool          `json:"failed"`
			R      browserResult `json:"r"`
		}
		other.await(fmt.Sprintf(`(async () => {
			await mpmlabBrowser.start({model: "worker-pool", workers: 1, wasmURL: %q});
			const r = await mpmlabBrowser.fetch("/");
			mpmlabBrowser.stop();
			return {failed: window.workerCodeFailed, r};
		})()`, hello), &res)
		if !res.Failed {
			t.Fatalf("the page's first fetch of the worker code did not fail")
		}
		res.R.ok(t)
	})

	// A panic ends the instance that served it: the request fails, and
	// the page loop or the worker starts a new one (a master respawning a
	// child), whose counter starts again.
	t.Run("crash respawns", func(t *testing.T) {
		tb.t = t
		crash := srv.jsModule(t, "crash")
		for _, m := range []string{"page-loop", "worker-pool"} {
			tb.startModel(m, 1, crash)
			var res struct {
				Crash browserResult `json:"crash"`
				After browserResult `json:"after"`
			}
			tb.await(`(async () => {
				const B = mpmlabBrowser;
				const crash = await B.fetch("/crash");
				for (let i = 0; i < 100 && B.status().lanes[0].restarts < 1; i++) await new Promise(r => setTimeout(r, 20));
				return {crash, after: await B.fetch("/")};
			})()`, &res)
			t.Logf("%s: /crash → %q; then %q", m, res.Crash.Error, res.After.Body)
			if res.Crash.Status != 0 || !strings.Contains(res.Crash.Error, "exited") {
				t.Errorf("%s: /crash answered %d %q, error %q; want an error saying the instance exited", m, res.Crash.Status, res.Crash.Body, res.Crash.Error)
			}
			res.After.ok(t)
		}
	})

	// A request past the timeout terminates its worker (as the host kills
	// a worker process); a new one serves the next request.
	t.Run("runaway terminated", func(t *testing.T) {
		tb.t = t
		runaway := srv.jsModule(t, "runaway")
		var res struct {
			Spin  browserResult `json:"spin"`
			After browserResult `json:"after"`
		}
		tb.await(fmt.Sprintf(`(async () => {
			const B = mpmlabBrowser;
			await B.start({model: "worker-pool", workers: 1, wasmURL: %q, timeoutMs: 300});
			return {spin: await B.fetch("/spin"), after: await B.fetch("/")};
		})()`, runaway), &res)
		t.Logf("/spin: %q after %.0f ms; then %q", res.Spin.Error, res.Spin.MS, res.After.Body)
		if !strings.Contains(res.Spin.Error, "timeout") || res.Spin.MS < 290 || res.Spin.MS > 2000 {
			t.Errorf("/spin ended %.0f ms in with %q; want the 300 ms timeout", res.Spin.MS, res.Spin.Error)
		}
		res.After.ok(t)
	})

	// Latency of hello in each model, and instance start times (logged).
	t.Run("latency", func(t *testing.T) {
		tb.t = t
		for _, m := range []struct {
			model   string
			workers int
		}{{"page-loop", 0}, {"worker-pool", 2}, {"instance-per-request", 0}} {
			start := tb.startModel(m.model, m.workers, hello)
			var rs []browserResult
			tb.await(`(async () => { const rs = []; for (let i = 0; i < 50; i++) rs.push(await mpmlabBrowser.fetch("/")); return rs })()`, &rs)
			var ms, starts []float64
			for _, r := range rs[5:] {
				r.ok(t)
				ms = append(ms, r.MS)
				if r.StartMS > 0 {
					starts = append(starts, r.StartMS)
				}
			}
			if len(starts) > 0 {
				start = starts
			}
			t.Logf("hello on %s: p50 %.2f ms, p90 %.2f ms (sequential, %d requests); instance start p50 %.1f ms", m.model, pct(ms, 0.5), pct(ms, 0.9), len(ms), pct(start, 0.5))
		}
	})

	// Once started, the browser models need no host: stop it, then restart
	// a model (workers start from code kept in memory) and serve.
	t.Run("offline", func(t *testing.T) {
		tb.t = t
		srv.Stop()
		for _, m := range []string{"worker-pool", "page-loop", "instance-per-request"} {
			tb.startModel(m, 2, hello)
			var r browserResult
			tb.await(`mpmlabBrowser.fetch("/")`, &r)
			r.ok(t)
		}
	})
}

func msList(rs []browserResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%.1f", r.MS))
	}
	return out
}

// pct is the p-quantile of xs (nearest rank).
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// TestBrowserBuildAPI: POST /api/build/js with and without a progress
// stream, a compile error located, and the module served gzip-compressed
// and immutable.
func TestBrowserBuildAPI(t *testing.T) {
	srv := startServe(t, "")
	src := srv.example(t, "hello")
	src.Files[0].Data += "\n// " + time.Now().Format(time.RFC3339Nano) + "\n" // not a cache hit
	_, body := srv.call(t, "POST", "/api/build/js?progress=1", map[string]any{"source": src})
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var last struct {
		Result struct {
			URL       string `json:"url"`
			Bytes     int    `json:"bytes"`
			GzipBytes int    `json:"gzip_bytes"`
		} `json:"result"`
	}
	if len(lines) < 2 || !strings.Contains(lines[0], `"progress"`) || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil || last.Result.URL == "" {
		t.Fatalf("progress stream:\n%s", body)
	}
	resp, err := http.Get(srv.URL + last.Result.URL) // Go asks for gzip and undoes it
	if err != nil {
		t.Fatal(err)
	}
	wasm, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Uncompressed || len(wasm) != last.Result.Bytes || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Errorf("GET %s: %d, gzip %v, %d bytes (want %d), %v", last.Result.URL, resp.StatusCode, resp.Uncompressed, len(wasm), last.Result.Bytes, resp.Header)
	}

	bad := experiment.Source{Files: []experiment.File{{Name: "main.go", Data: "package main\n\nfunc main() {\n\tnope()\n}\n"}}}
	data := srv.wantStatus(t, 422, "POST", "/api/build/js", map[string]any{"source": bad})
	if !strings.Contains(string(data), `"line":4`) {
		t.Errorf("compile error not located: %s", data)
	}
	_, data = srv.call(t, "POST", "/api/build/js?progress=1", map[string]any{"source": bad})
	if !strings.Contains(string(data), `"status":422`) || !strings.Contains(string(data), `"line":4`) {
		t.Errorf("compile error in the progress stream: %s", data)
	}
}

// choose sets the control with id (a select or an input) as a person would.
func (tb *tab) choose(id, value string) {
	tb.t.Helper()
	tb.helpers()
	var ok bool
	tb.eval(fmt.Sprintf(`(T.choose(%q, %q), true)`, id, value), &ok)
}

// TestBrowserRunInBrowser goes through the UI: "Run in browser" with the
// form's load under the page loop (the tab freezes and the heartbeat says
// why) and a worker pool (it does not), each filling its row of the compare
// table; then, with the host stopped, the same source runs again.
func TestBrowserRunInBrowser(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")

	// runInBrowser clicks Run in browser and returns the model's p99, the
	// heartbeat's largest gap during the run, and the largest a handler on
	// the page's own thread took part in (the rest is a busy machine's).
	runInBrowser := func(model string) (p99, gap, frozen float64) {
		t.Helper()
		since := tb.evalFloat(`mpmlabBrowser.heartbeat.now()`)
		tb.do(chromedp.Click(chromedp.ID("run-browser")))
		tb.wait(`document.body.dataset.browserRunning === "1" || document.querySelector("#run-error:not([hidden])")`, 10*time.Second, "the browser run to start")
		tb.wait(`document.body.dataset.browserRunning === ""`, 3*time.Minute, "the browser run to end")
		if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
			t.Fatalf("%s run failed: %s", model, msg)
		}
		sel := "#summary-" + model + " [data-stat=p99]"
		tb.wait(`document.querySelector("`+sel+`").dataset.ms !== undefined`, 10*time.Second, "the "+model+" p99")
		return tb.evalFloat(`+document.querySelector("` + sel + `").dataset.ms`), tb.evalFloat(fmt.Sprintf(`mpmlabBrowser.heartbeat.maxGapSince(%f)`, since)),
			tb.evalFloat(fmt.Sprintf(`mpmlabBrowser.heartbeat.frozenSince(%f)`, since))
	}

	tb.set("example", "cpu", "groups", "none", "load.path", "/?ms=100", "load.concurrency", "2", "load.requests", "6", "load.duration_ms", "0", "load.rate", "0")
	tb.choose("browser-model", "page-loop")
	page, gap, frozen := runInBrowser("page-loop")
	shown := tb.evalFloat(`+document.getElementById("heartbeat").dataset.maxGapMs`)
	why := tb.evalString(`document.querySelector("#heartbeat .why").textContent`)
	sentence := tb.evalString(`document.querySelector("#summary-page-loop [data-stat=sentence]").textContent`)
	tb.screenshot("browser-run-page-loop")
	t.Logf("page loop: p99 %.0f ms, heartbeat gap %.0f ms; %q; %q", page, gap, why, sentence)
	if frozen < 90 || shown < 90 || !strings.Contains(why, "page loop") || !strings.Contains(sentence, "froze") {
		t.Errorf("under the page loop the heartbeat's gap is %.0f ms, %.0f of it with a handler on the tab's thread (shown: %.0f), why %q, sentence %q: want a freeze of about 100 ms, shown and explained", gap, frozen, shown, why, sentence)
	}

	tb.choose("browser-model", "worker-pool")
	tb.choose("browser-workers", "2")
	pool, poolGap, poolFrozen := runInBrowser("worker-pool")
	t.Logf("worker pool of 2: p99 %.0f ms, heartbeat gap %.0f ms (page loop: p99 %.0f ms, gap %.0f ms)", pool, poolGap, page, gap)
	// Its handlers run on Web Workers: whatever gaps a busy machine
	// leaves, none has a handler on the page's thread in it.
	if poolFrozen > 0 {
		t.Errorf("with a worker pool a handler held the tab's own thread during a %.0f ms gap", poolFrozen)
	}
	if n := tb.evalFloat(`document.querySelectorAll("#summary-worker-pool[data-filled]").length`); n != 1 {
		t.Errorf("the worker pool's compare row is not filled")
	}

	// Without the host: the module is in the page's memory.
	srv.Stop()
	tb.choose("browser-model", "instance-per-request")
	tb.set("load.requests", "4")
	_, _, frozen = runInBrowser("instance-per-request")
	if frozen > 0 {
		t.Errorf("an instance per request (a Web Worker each) held the tab's own thread during a %.0f ms gap", frozen)
	}
	tb.screenshot("browser-run-offline")
}
