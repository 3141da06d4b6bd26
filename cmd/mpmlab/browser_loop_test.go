package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserLoopPicture checks that the live view tells the truth about
// each model, on the real `mpmlab serve` in real Chromium: a CPU-bound
// handler holds the reactor's loop one request at a time while the rest
// wait for it; sleeping requests park together on a mostly idle loop;
// threads serve in parallel. The picture's numbers are read from what the
// timeline drew (its data attributes); the screenshots are for people.
func TestBrowserLoopPicture(t *testing.T) {
	srv := startServe(t, "")
	browser := newBrowser(t)
	tb := newTab(t, browser, false)
	tb.open(srv.URL + "/")
	data := func(key string) float64 {
		return tb.evalFloat(`+(document.getElementById("timeline").dataset.` + key + ` || 0)`)
	}
	// start clicks Run and waits until the run is under way.
	start := func(model string) {
		tb.set("model", model)
		tb.clickRun()
	}
	end := func(what string) {
		tb.wait(`document.body.dataset.running === ""`, 3*time.Minute, what+" to end")
		if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
			tb.t.Fatalf("%s failed: %s", what, msg)
		}
	}

	t.Run("cpu holds the loop", func(t *testing.T) {
		tb.t = t
		tb.set("example", "cpu", "groups", "none", "load.path", "/?ms=200", "load.rate", "0", "load.concurrency", "10",
			"load.requests", "20", "load.duration_ms", "0", "load.keepalive", "true")
		start("reactor")
		// The live view comes on screen by itself.
		tb.wait(`(() => { const r = document.getElementById("live").getBoundingClientRect(); return r.top >= -1 && r.top < innerHeight / 2; })()`,
			5*time.Second, "the live view on screen")
		// While the loop computes, its scoreboard letter is W (not _) and
		// stub_status counts the requests in it.
		tb.wait(`document.getElementById("scoreboard").textContent.includes("W") && /Writing: [1-9]/.test(document.getElementById("stub-status").textContent)`,
			30*time.Second, "the scoreboard to show the busy loop")
		end("the reactor run")
		tb.screenshot("loop-cpu-reactor")
		if n := data("maxHolders"); n != 1 {
			t.Errorf("the loop track drew %v requests holding the loop at once, want 1", n)
		}
		if q := data("queued"); q < 0.5 {
			t.Errorf("%.0f%% of the requests' bars drawn waiting for the loop, want most", 100*q)
		}
		callout := tb.evalString(`document.getElementById("hold-callout").textContent`)
		if !strings.Contains(callout, "the loop was held") || !strings.Contains(callout, "GET /?ms=200") || !strings.Contains(callout, "main.go:") {
			t.Errorf("hold callout %q, want the loop held by GET /?ms=200 at main.go:LINE", callout)
		}
		// The blame is a link to the line it blames: a click selects it.
		line := tb.evalString(`document.querySelector("#hold-callout a.blame")?.dataset.line || ""`)
		if line == "" {
			t.Errorf("the hold callout %q has no link to its line", callout)
		} else {
			tb.clickElement("#hold-callout a.blame")
			selected := tb.evalString(`(() => { const ta = document.getElementById("source"); return ta.value.slice(0, ta.selectionStart).split("\n").length + "" })()`)
			if selected != line {
				t.Errorf("clicking the blame selected line %s, want %s", selected, line)
			}
		}
		sentence := tb.evalString(`document.querySelector("#summary-reactor [data-stat=sentence]").textContent`)
		if !strings.Contains(sentence, "held") || !strings.Contains(sentence, "main.go:") {
			t.Errorf("the Compare sentence %q does not name the hold", sentence)
		}
	})

	t.Run("sleep parks", func(t *testing.T) {
		tb.t = t
		tb.set("example", "sleep", "load.path", "/", "load.rate", "0", "load.concurrency", "30",
			"load.requests", "300", "load.duration_ms", "0", "load.keepalive", "true")
		start("reactor")
		end("the reactor run")
		tb.screenshot("loop-sleep-reactor")
		if n := data("maxParked"); n < 10 {
			t.Errorf("at most %v requests drawn parked at once, want many (30 clients sleeping)", n)
		}
		if b := data("busy"); b > 0.5 {
			t.Errorf("the loop drawn %.0f%% busy, want mostly idle", 100*b)
		}
		if n := data("maxHolders"); n > 1 {
			t.Errorf("%v requests drawn holding the loop at once", n)
		}
	})

	t.Run("200 clients stay readable", func(t *testing.T) {
		tb.t = t
		tb.set("example", "sleep", "load.path", "/", "load.rate", "0", "load.concurrency", "200",
			"load.requests", "600", "load.duration_ms", "0", "load.keepalive", "true")
		start("reactor")
		end("the reactor run")
		tb.screenshot("loop-sleep-reactor-200")
		// The timeline keeps its rows: it grows to a bounded height, not
		// one row per request.
		if h := tb.evalFloat(`document.getElementById("timeline").getBoundingClientRect().height`); h > 430 {
			t.Errorf("timeline %v px high at 200 clients, want at most 420", h)
		}
		if n := data("maxHolders"); n > 1 {
			t.Errorf("%v requests drawn holding the loop at once", n)
		}
	})

	t.Run("threads in parallel", func(t *testing.T) {
		tb.t = t
		tb.set("example", "cpu", "groups", "none", "load.path", "/?ms=200", "load.rate", "0", "load.concurrency", "4",
			"load.requests", "12", "load.duration_ms", "0", "load.keepalive", "true",
			"model", "thread", "knobs.processes", "1", "knobs.threads_per_child", "4")
		start("thread")
		end("the thread run")
		tb.screenshot("loop-cpu-thread")
		if n := data("maxInFlight"); n < 3 {
			t.Errorf("at most %v requests drawn in flight at once, want the 4 threads serving in parallel", n)
		}
		if n := data("maxHolders"); n != 0 {
			t.Errorf("a loop track (%v holders) drawn for threads", n)
		}
	})
}

// The event model from the page: its knobs in the form, its lanes (one per
// thread), its Compare row and sentence.
func TestBrowserEventModel(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "blocking", "groups", "none", "model", "event", "knobs.processes", "2", "knobs.threads_per_child", "2",
		"knobs.async_request_worker_factor", "3", "load.path", "/", "load.rate", "0", "load.concurrency", "12",
		"load.requests", "36", "load.duration_ms", "0", "load.keepalive", "true", "load.think_ms", "100")
	visible := tb.evalString(`[...document.querySelectorAll("#knobs label.field")].filter(l => l.offsetParent !== null).map(l => l.dataset.field).join(",")`)
	for _, k := range []string{"knobs.processes", "knobs.threads_per_child", "knobs.async_request_worker_factor"} {
		if !strings.Contains(visible, k) {
			t.Errorf("knob %s not shown for the event model (shown: %s)", k, visible)
		}
	}
	if strings.Contains(visible, "knobs.loops") || strings.Contains(visible, "knobs.start_servers") {
		t.Errorf("another model's knobs shown for event: %s", visible)
	}
	// Knobs are labelled by the directives the Apache docs name, in full.
	labels := tb.evalString(`[...document.querySelectorAll("#knobs label.field")].filter(l => l.offsetParent !== null).map(l => l.querySelector(".name").textContent).join(",")`)
	for _, d := range []string{"ThreadsPerChild", "AsyncRequestWorkerFactor", "MaxKeepAliveRequests", "KeepAliveTimeout (ms)"} {
		if !strings.Contains(labels, d) {
			t.Errorf("no knob labelled %s for the event model (labels: %s)", d, labels)
		}
	}
	if cut := tb.evalFloat(`[...document.querySelectorAll("#knobs label.field .name")].filter(n => n.offsetParent !== null && n.scrollWidth > n.clientWidth + 1).length`); cut > 0 {
		t.Errorf("%v knob labels are cut off", cut)
	}
	p99 := tb.runModel("event")
	tb.screenshot("event-model")
	lanes := tb.evalFloat(`+(document.getElementById("timeline").dataset.maxInFlight || 0)`)
	sentence := tb.evalString(`document.querySelector("#summary-event [data-stat=sentence]").textContent`)
	t.Logf("event: p99 %.1f ms, at most %v in flight; %s", p99, lanes, sentence)
	if !strings.Contains(sentence, "4 threads in 2 processes") || !strings.Contains(sentence, "listeners") {
		t.Errorf("event sentence %q, want the 4 threads in 2 processes and their listeners", sentence)
	}
	if lanes < 2 {
		t.Errorf("at most %v requests drawn in flight, want the threads serving in parallel", lanes)
	}
}

// At Apache's default AsyncRequestWorkerFactor, the event model's
// listeners hold the clients' idle keep-alive connections between their
// requests, no thread holding them: each process's listener is drawn as
// a track with what it held, and mod_status's async keep-alive column
// counts them while the load runs.
func TestBrowserEventListener(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "blocking", "groups", "none", "model", "event", "knobs.processes", "2", "knobs.threads_per_child", "2",
		"load.path", "/", "load.rate", "0", "load.concurrency", "12", "load.requests", "48", "load.duration_ms", "0",
		"load.keepalive", "true", "load.think_ms", "300")
	var ok bool
	tb.eval(`(() => {
		window.asyncSeen = [];
		const el = document.getElementById("stub-status");
		new MutationObserver(() => asyncSeen.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
		return true;
	})()`, &ok)
	tb.runModel("event")
	tb.screenshot("event-listener")
	peak := tb.evalFloat(`+(document.getElementById("timeline").dataset.listenerPeak || 0)`)
	listeners := tb.evalFloat(`+(document.getElementById("timeline").dataset.listeners || 0)`)
	var seen []string
	tb.eval(`asyncSeen`, &seen)
	t.Logf("listeners holding connections: %v, the most one held: %v; mod_status said e.g. %q", listeners, peak, last(seen))
	if listeners < 1 || peak < 1 {
		t.Errorf("no listener drawn holding an idle keep-alive connection (listeners %v, peak %v)", listeners, peak)
	}
	held := false
	for _, s := range seen {
		held = held || strings.Contains(s, "Async connections: keep-alive") && !strings.Contains(s, "keep-alive 0 ")
	}
	if !held {
		t.Errorf("mod_status's async keep-alive column never counted a connection: %q", seen)
	}
	// The pointer on a thread reads what its process's listener held
	// then: somewhere in the run, a connection.
	most, y := -1, 0.0
	for y = 20.0; y < 200 && most < 0; y += 7 {
		if r, _ := tb.readoutAt(0.5, y); r.Listens {
			most = r.Listener
		}
	}
	if most < 0 {
		t.Fatal("no readout on any lane says what its listener held")
	}
	for fx := 0.05; fx < 1; fx += 0.05 {
		r, text := tb.readoutAt(fx, y-7)
		if r.Listens && r.Listener > most {
			most = r.Listener
			if !strings.Contains(text, "listener held "+strconv.Itoa(r.Listener)) {
				t.Errorf("the readout says %q, want what the listener held", text)
			}
		}
	}
	if most < 1 {
		t.Errorf("across the run the readout never read a connection held by the listener (peak drawn: %v)", peak)
	}
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
