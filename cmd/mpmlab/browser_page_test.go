package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The page's own state around runs and edits: the menus, the status line,
// the heartbeat, and what survives a reload.

// recordRuns makes the page record the model of each POST /api/runs it
// sends; runModels returns them.
func (tb *tab) recordRuns() {
	tb.t.Helper()
	var ok bool
	tb.eval(`(() => {
		if (window.runModels) return true;
		window.runModels = [];
		const f = window.fetch;
		window.fetch = (u, o) => {
			if (u === "/api/runs" && o && o.method === "POST") runModels.push(JSON.parse(o.body).model);
			return f(u, o);
		};
		return true;
	})()`, &ok)
}

func (tb *tab) runModels() string {
	tb.t.Helper()
	var ms []string
	tb.eval(`runModels`, &ms)
	return strings.Join(ms, " ")
}

// waitRun waits for a run (what) just clicked to start and end, failing
// on its error.
func (tb *tab) waitRun(what string) {
	tb.t.Helper()
	tb.wait(`document.body.dataset.running === "1" || document.querySelector("#run-error:not([hidden])")`, 10*time.Second, what+" to start")
	tb.wait(`document.body.dataset.running === ""`, 4*time.Minute, what+" to end")
	if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
		tb.t.Fatalf("%s failed: %s", what, msg)
	}
}

// TestBrowserCompareKeepsModel: Compare runs all three models and leaves
// the Model menu as it was, so the next Run on host runs that one model.
func TestBrowserCompareKeepsModel(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "hello", "model", "thread", "load.requests", "20", "load.duration_ms", "0", "load.rate", "0")
	tb.recordRuns()
	tb.do(chromedp.Click(chromedp.ID("compare")))
	tb.waitRun("Compare")
	if m := tb.evalString(`document.getElementById("model").value`); m != "thread" {
		t.Errorf("after Compare the Model menu says %q, want thread", m)
	}
	for _, m := range []string{"process", "thread", "reactor"} {
		if tb.evalString(`document.getElementById("summary-`+m+`").dataset.filled || ""`) != "1" {
			t.Errorf("after Compare the %s row is empty", m)
		}
	}
	tb.do(chromedp.Click(chromedp.ID("run")))
	tb.waitRun("the run after Compare")
	if got := tb.runModels(); got != "all thread" {
		t.Errorf("Compare then Run asked the host for %q, want %q", got, "all thread")
	}
}

// TestBrowserExampleMenu: the Example menu names an example only while the
// editor holds its source.
func TestBrowserExampleMenu(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "sleep")
	sleep := tb.state().Source
	tb.set("source", sleep+"// mine\n")
	if v := tb.evalString(`document.getElementById("examples").value`); v != "" {
		t.Errorf("after editing the sleep example the Example menu says %q, want (your own)", v)
	}
	if s := tb.evalString(`document.getElementById("example-summary").textContent`); s != "" {
		t.Errorf("after editing the sleep example its summary still shows: %q", s)
	}
	tb.set("source", sleep)
	if v := tb.evalString(`document.getElementById("examples").value`); v != "sleep" {
		t.Errorf("with the sleep example's source back the Example menu says %q, want sleep", v)
	}
	if s := tb.evalString(`document.getElementById("example-summary").textContent`); !strings.HasPrefix(s, "sleep ") {
		t.Errorf("with the sleep example's source back the summary is %q", s)
	}
}
