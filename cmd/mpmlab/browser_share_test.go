package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mpmlab/mpmlab/playground/share/sharetest"
)

// TestBrowserShareService is a link opened where nothing is installed: a
// host publishes a reactor cpu run to the share service (wrangler's local
// mode) with --share-service; then, with no host running, a fresh browser
// opens the link on the service and sees the run replayed (the loop held,
// lag points), the source and settings restored; Run in browser serves
// requests from the shared browser build; Run on host says what to run.
// Then a host started with --allow-origin for the service's origin runs
// the experiment from the same page.
func TestBrowserShareService(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wrangler, two hosts and Chromium")
	}
	svc := sharetest.StartWrangler(t, filepath.Join("..", "mpmlab-share"), t.TempDir())
	host := startServeArgs(t, "--share-service", svc.URL)
	browser := newBrowser(t)

	// The sender: a reactor run of the cpu example, then Share.
	sender := newTab(t, browser, false)
	sender.open(host.URL + "/")
	sender.set("example", "cpu", "groups", "none", "load.path", "/?ms=100", "load.concurrency", "4", "load.requests", "12",
		"load.duration_ms", "0", "load.rate", "0")
	sender.set("source", sender.state().Source+"\n// shared "+time.Now().Format(time.RFC3339Nano)+"\n")
	sender.choose("browser-model", "worker-pool")
	sender.choose("browser-workers", "3")
	want := sender.state()
	sender.runModel("reactor")
	sentSentence := sender.evalString(`document.querySelector("#summary-reactor [data-stat=sentence]").textContent`)
	sender.do(chromedp.Click(chromedp.ID("share")))
	sender.wait(`/^shared as /.test(document.getElementById("status").textContent)`, 4*time.Minute, "the share (with its browser build)")
	status := sender.evalString(`document.getElementById("status").textContent`)
	// Done means done: no spinner beside "shared as" (the browser build
	// the share waited for used to leave it turning).
	sender.wait(`!document.getElementById("status").dataset.busy`, 5*time.Second, "the spinner to stop after the share")
	link := sender.evalString(`document.getElementById("share-url").value`)
	t.Logf("sender: %q, link %s", status, link)
	if !strings.HasPrefix(link, svc.URL+"/p/") || strings.Contains(status, "without") {
		t.Fatalf("the share link is %q (%q); want one on the share service %s, with the recording and the browser build", link, status, svc.URL)
	}
	host.Stop()

	// The recipient: nothing but the service.
	tb := newTab(t, browser, true)
	tb.open(link)
	tb.wait(`document.body.dataset.replayed === "1"`, 2*time.Minute, "the recording to replay")
	if got := tb.state(); !equalState(got, want) {
		t.Errorf("the link restored\n%+v\nwant\n%+v", got, want)
	}
	if m, w := tb.evalString(`document.getElementById("browser-model").value`), tb.evalString(`document.getElementById("browser-workers").value`); m != "worker-pool" || w != "3" {
		t.Errorf("browser settings restored as %s × %s, want worker-pool × 3", m, w)
	}
	note := tb.evalString(`document.getElementById("recording-note").hidden ? "" : document.getElementById("recording-note").textContent`)
	marked := tb.evalString(`document.getElementById("live").dataset.recording`)
	points := tb.evalFloat(`+document.getElementById("lag-chart").dataset.points`)
	sentence := tb.evalString(`document.querySelector("#summary-reactor [data-stat=sentence]").textContent`)
	hostLine := tb.evalString(`document.getElementById("host-says").textContent`)
	tb.screenshot("share-service-replay")
	t.Logf("replay: %q; lag points %v; sentence %q; host line %q", note, points, sentence, hostLine)
	if marked != "1" || !strings.Contains(note, "cores") {
		t.Errorf("the replay is not marked as a recording with the sender's machine: data-recording %q, note %q", marked, note)
	}
	if points < 1 {
		t.Errorf("the replayed lag chart has no points")
	}
	if !strings.Contains(sentence, "held") || sentence != sentSentence {
		t.Errorf("the replayed summary says %q; the sender's said %q (want the loop held)", sentence, sentSentence)
	}
	if n := tb.evalFloat(`document.querySelectorAll('#examples option[value="cpu"]').length`); n != 1 {
		t.Errorf("with no host the examples menu has no cpu example")
	}
	allow := "mpmlab serve --allow-origin " + svc.URL
	if !strings.Contains(hostLine, allow) {
		t.Errorf("with no host the page says %q, want it to say %q", hostLine, allow)
	}

	t.Run("run in browser, no host", func(t *testing.T) {
		tb.t = t
		tb.do(chromedp.Click(chromedp.ID("run-browser")))
		tb.wait(`document.body.dataset.browserRunning === "1" || document.querySelector("#run-error:not([hidden])")`, 10*time.Second, "the browser run to start")
		tb.wait(`document.body.dataset.browserRunning === ""`, 3*time.Minute, "the browser run to end")
		if msg := tb.evalString(`document.querySelector("#run-error").hidden ? "" : document.querySelector("#run-error").textContent`); msg != "" {
			t.Fatalf("Run in browser on the share service: %s", msg)
		}
		sel := `#summary-worker-pool [data-stat=p99]`
		tb.wait(`document.querySelector("`+sel+`").dataset.ms !== undefined`, 10*time.Second, "the worker pool's p99")
		row := tb.evalString(`document.querySelector("#summary-worker-pool").textContent`)
		t.Logf("worker pool row: %q", row)
		if r := tb.evalString(`document.getElementById("live").dataset.recording`); r != "" {
			t.Errorf("after a browser run the live view is still marked a recording")
		}
	})

	t.Run("run on host, no host", func(t *testing.T) {
		tb.t = t
		tb.do(chromedp.Click(chromedp.ID("run")))
		tb.wait(`!document.querySelector("#run-error").hidden`, 10*time.Second, "Run on host to say what to run")
		msg := tb.evalString(`document.querySelector("#run-error").textContent`)
		tb.screenshot("share-service-no-host")
		if !strings.Contains(msg, allow) {
			t.Fatalf("Run on host with no host says %q, want %q", msg, allow)
		}
	})

	t.Run("run on host, --allow-origin", func(t *testing.T) {
		tb.t = t
		local := startServeArgs(t, "--allow-origin", svc.URL)
		u, _ := url.Parse(local.URL)
		var ok bool
		tb.eval(fmt.Sprintf(`(document.getElementById("host-addr").value = %q, true)`, "http://"+u.Host), &ok)
		tb.do(chromedp.Click(chromedp.ID("host-connect")))
		tb.wait(`document.getElementById("host-line").dataset.state === "connected"`, 10*time.Second, "the page to use the local host")
		tb.runModel("reactor")
		if r := tb.evalString(`document.getElementById("live").dataset.recording`); r != "" {
			t.Errorf("after a live run the view is still marked a recording")
		}
		p99 := tb.evalFloat(`+document.querySelector("#summary-reactor [data-stat=p99]").dataset.ms`)
		tb.screenshot("share-service-host-run")
		t.Logf("run on %s from %s: p99 %.0f ms", local.URL, svc.URL, p99)
		if !strings.Contains(local.Logs(), "reactor") {
			t.Errorf("the local host logged no reactor run:\n%s", local.Logs())
		}
		if p99 <= 0 {
			t.Errorf("the host run shows p99 %v", p99)
		}
	})
}
