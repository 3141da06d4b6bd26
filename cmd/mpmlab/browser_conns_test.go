package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLongLivedConnections runs the sse example on one loop from
// the page, on the real `mpmlab serve` in real Chromium: its 1000 clients
// each hold a stream open, the live stats show the connections held and
// the workers' PSS, and the Compare row the PSS and the memory per open
// connection. The tab's own models refuse a load of that many clients,
// saying why.
func TestBrowserLongLivedConnections(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "sse", "model", "reactor")
	clients := tb.evalFloat(`+document.querySelector("[name='load.concurrency']").value`)
	if clients <= 200 {
		t.Fatalf("the sse example's load has %v clients, want more than 200", clients)
	}
	tb.clickRun()
	// While the streams are open the live stats count them, and the PSS.
	tb.wait(`+document.getElementById("held").textContent >= 100 && document.getElementById("pss").textContent.endsWith(" MB")`,
		time.Minute, "the live stats to show the connections held and the PSS")
	tb.wait(`document.body.dataset.running === ""`, 3*time.Minute, "the run to end")
	if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
		t.Fatalf("the run failed: %s", msg)
	}
	tb.screenshot("conns-sse-reactor")
	pss := tb.evalString(`document.querySelector("#summary-reactor [data-stat=pss]").textContent`)
	per := tb.evalString(`document.querySelector("#summary-reactor [data-stat=perconn]").textContent`)
	kb := tb.evalFloat(`+document.querySelector("#summary-reactor [data-stat=perconn]").dataset.kb`)
	t.Logf("Compare: PSS %q, per conn %q", pss, per)
	if !strings.HasSuffix(pss, " MB") || !strings.Contains(per, " KB × ") || kb <= 0 {
		t.Errorf("the reactor's Compare row: PSS %q, per conn %q (%v KB): want the PSS in MB and the KB per connection × the connections held", pss, per, kb)
	}

	// In the tab: refused, with the reason, before anything runs.
	tb.choose("browser-model", "page-loop")
	tb.do(chromedp.Click(chromedp.ID("run-browser")))
	tb.wait(`!document.querySelector("#run-error").hidden`, 10*time.Second, "the tab's refusal")
	if msg := tb.evalString(`document.querySelector("#run-error").textContent`); !strings.Contains(msg, "in this tab a load may have at most 200 clients") {
		t.Errorf("the tab's run of %v clients says %q, want a refusal naming the limit", clients, msg)
	}
	if tb.evalString(`document.body.dataset.browserRunning || ""`) != "" {
		t.Error("the tab's run started")
	}
}
