package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserTabLoops checks that "Run in browser" draws each browser
// model's threads as the loops they are, on the real `mpmlab serve` in real
// Chromium. The page loop and each Web Worker are one JavaScript thread on
// which one Go instance runs at a time (and the instance-per-request
// model's fresh instances share one worker's thread), so each lane gets a
// loop track on which at most one request holds it at any instant, the
// rest drawn waiting for it or parked, as the host's reactor is drawn.
// The numbers are read from what the timeline drew (its data attributes,
// live.View.LoopStats); the screenshots are for people.
func TestBrowserTabLoops(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	data := func(key string) float64 {
		return tb.evalFloat(`+(document.getElementById("timeline").dataset.` + key + ` || 0)`)
	}
	run := func(model string) {
		t.Helper()
		tb.choose("browser-model", model)
		tb.do(chromedp.Click(chromedp.ID("run-browser")))
		tb.wait(`document.body.dataset.browserRunning === "1" || document.querySelector("#run-error:not([hidden])")`, 10*time.Second, "the browser run to start")
		tb.wait(`document.body.dataset.browserRunning === ""`, 3*time.Minute, "the browser run to end")
		if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
			tb.t.Fatalf("%s run failed: %s", model, msg)
		}
	}
	// Four clients, CPU-bound requests of 100 ms each: on one thread they
	// take turns.
	tb.set("example", "cpu", "groups", "none", "load.path", "/?ms=100", "load.concurrency", "4", "load.requests", "8",
		"load.duration_ms", "0", "load.rate", "0")
	check := func(t *testing.T, lanes string, minQueued float64) {
		t.Helper()
		got := tb.evalString(`document.getElementById("timeline").dataset.lanes`)
		t.Logf("lanes %q: at most %v holders, %v in flight; %.0f%% of the bars waiting, %.0f%% parked; loop busy %.0f%%",
			got, data("maxHolders"), data("maxInFlight"), 100*data("queued"), 100*data("parked"), 100*data("busy"))
		if got != lanes {
			t.Errorf("lanes %q, want %q", got, lanes)
		}
		if n := data("maxHolders"); n != 1 {
			t.Errorf("the loop tracks drew %v requests holding one thread at once, want 1", n)
		}
		if q := data("queued"); q < minQueued {
			t.Errorf("%.0f%% of the requests' bars drawn waiting for their thread, want at least %.0f%%", 100*q, 100*minQueued)
		}
		// The holds are the requests': the longest is a CPU request's, and
		// at least as long as it computes (guest.Compute runs to a
		// deadline: a busy machine makes it no shorter).
		c := tb.evalString(`document.getElementById("hold-callout").textContent`)
		t.Logf("hold callout: %s", c)
		m := regexp.MustCompile(`held ([0-9.]+) (ms|s) by GET /\?ms=100`).FindStringSubmatch(c)
		if m == nil {
			t.Fatalf("hold callout %q, want the thread held by GET /?ms=100", c)
		}
		held, _ := strconv.ParseFloat(m[1], 64)
		if m[2] == "s" {
			held *= 1000
		}
		if held < 99 {
			t.Errorf("the longest hold drawn is %.0f ms, shorter than the 100 ms its request computes", held)
		}
	}

	t.Run("page loop", func(t *testing.T) {
		tb.t = t
		run("page-loop")
		tb.screenshot("browser-loop-page-loop")
		// One thread: each request waits for the ones before it.
		check(t, "page loop", 0.3)
		// The heartbeat still says why the tab froze.
		tb.wait(`document.getElementById("heartbeat").dataset.state === "frozen" && document.querySelector("#heartbeat .why").textContent.includes("page loop")`,
			5*time.Second, "the heartbeat to show the freeze")
	})

	t.Run("worker pool", func(t *testing.T) {
		tb.t = t
		tb.choose("browser-workers", "2")
		run("worker-pool")
		tb.screenshot("browser-loop-worker-pool")
		// Two threads, two requests each: one runs, one waits.
		check(t, "worker 1,worker 2", 0.1)
	})

	t.Run("instance per request", func(t *testing.T) {
		tb.t = t
		run("instance-per-request")
		tb.screenshot("browser-loop-instance-per-request")
		// A fresh instance per request, all on one worker's thread.
		check(t, "instance worker", 0.25)
	})

	// Sleeping requests park together on the page loop, which they hold
	// only for a moment each.
	t.Run("sleep parks on the page loop", func(t *testing.T) {
		tb.t = t
		tb.set("example", "sleep", "load.path", "/", "load.concurrency", "20", "load.requests", "100")
		run("page-loop")
		tb.screenshot("browser-loop-page-loop-sleep")
		t.Logf("at most %v holders, %v parked at once; loop busy %.0f%%", data("maxHolders"), data("maxParked"), 100*data("busy"))
		if n := data("maxHolders"); n != 1 {
			t.Errorf("the page loop's track drew %v requests holding it at once, want 1", n)
		}
		if n := data("maxParked"); n < 5 {
			t.Errorf("at most %v requests drawn parked at once, want many (20 clients sleeping)", n)
		}
		if b := data("busy"); b > 0.5 {
			t.Errorf("the page loop drawn %.0f%% busy by sleeping handlers, want mostly idle", 100*b)
		}
	})
}
