package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The cpu example's default load is two groups: a steady fast one and an
// occasional slow one. Under one reactor loop the page shows the fast
// group's requests waiting behind the slow ones: each group's row in the
// compare table and its sentence (whose figures are the row's own), the
// live per-group table, and the timeline's legend of groups. Under threads
// the same group does not wait.
func TestBrowserLoadGroups(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "cpu")
	if n := tb.evalFloat(`document.querySelectorAll("#load-groups .group-row, .groups .group-row").length`); n != 1 {
		t.Fatalf("the cpu example's form shows %v group rows after the first, want 1 (slow)", n)
	}
	if name := tb.evalString(`document.getElementById("f-load-name").value`); name != "fast" {
		t.Fatalf("the first group's name is %q, want fast", name)
	}

	tb.runModel("reactor")
	groupRow := func(model, group, stat string) string {
		return tb.evalString(`(() => { const c = document.querySelector('#compare-table tr.group-row[data-model="` + model + `"][data-group="` + group + `"] [data-stat="` + stat + `"]'); return c ? c.textContent : "" })()`)
	}
	p99 := func(model, group string) float64 {
		v := tb.evalString(`(() => { const c = document.querySelector('#compare-table tr.group-row[data-model="` + model + `"][data-group="` + group + `"] [data-stat="p99"]'); return c ? c.dataset.ms : "" })()`)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s: no p99 for group %s (%q)", model, group, v)
		}
		return f
	}
	fast, slow := p99("reactor", "fast"), p99("reactor", "slow")
	if fast < 100 {
		t.Errorf("reactor: the fast group's p99 is %.1f ms; behind 200 ms computations on one loop it should be at least 100", fast)
	}
	sentence := groupRow("reactor", "fast", "sentence")
	if !strings.Contains(sentence, "behind slow, whose GET /?ms=200 held it") || !strings.Contains(sentence, "main.go:") {
		t.Errorf("reactor: the fast group's sentence %q does not name the slow group's hold and its line", sentence)
	}
	// The sentence's p99 is the row's.
	if m := regexp.MustCompile(`answered p99 (\S+ m?s)`).FindStringSubmatch(sentence); m == nil || m[1] != groupRow("reactor", "fast", "p99") {
		t.Errorf("reactor: the sentence %q states a p99 other than the row's %q", sentence, groupRow("reactor", "fast", "p99"))
	}
	if legend := tb.evalString(`document.getElementById("group-legend").textContent`); !strings.Contains(legend, "fast") || !strings.Contains(legend, "slow") {
		t.Errorf("the timeline's legend %q does not name both groups", legend)
	}
	if rows := tb.evalString(`[...document.querySelectorAll("#group-stats tbody tr")].map(r => r.dataset.group).join(",")`); rows != "fast,slow" {
		t.Errorf("the live per-group table shows %q, want fast,slow", rows)
	}
	tb.screenshot("groups-cpu-reactor-fast-waits-behind-slow")

	// Under threads nothing holds a loop: the sentence says where the
	// fast group's time went in the server, and blames no one. (How the
	// two models' p99s compare is left to the bench tests, which measure
	// the server's own waits: a busy machine slows both runs.)
	tb.runModel("thread")
	p99("thread", "fast")
	if s := groupRow("thread", "fast", "sentence"); !strings.Contains(s, "in the server it waited p99") || strings.Contains(s, "loop") {
		t.Errorf("thread: the fast group's sentence %q should give its server-side wait and run, and name no loop", s)
	}
	if slow < 150 {
		t.Errorf("reactor: the slow group's p99 %.1f ms is under the 200 ms it computes", slow)
	}
	tb.screenshot("groups-cpu-thread-fast-does-not-wait")
}

// Try may send while another try is in flight, and lists the answers in
// the order they came: under threads a fast request sent after a slow one
// answers first.
func TestBrowserTryOverlaps(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "cpu", "model", "thread")
	send := func(path string) {
		var ok bool
		tb.eval(`(() => {
			document.getElementById("try-panel").open = true;
			document.getElementById("try-path").value = `+strconv.Quote(path)+`;
			document.getElementById("try-send").click();
			return true;
		})()`, &ok)
	}
	send("/?ms=1500")
	tb.wait(`document.getElementById("try-send").dataset.inflight === "1"`, 30*time.Second, "the slow try to be in flight")
	if tb.evalString(`String(document.getElementById("try-send").disabled)`) != "false" {
		t.Fatal("Send is disabled while a try is in flight")
	}
	send("/hello")
	tb.wait(`document.querySelectorAll("#try-answers li").length === 2`, time.Minute, "both answers")
	answers := tb.evalString(`[...document.querySelectorAll("#try-answers li")].map(li => li.textContent).join("\n")`)
	lines := strings.Split(answers, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "GET /?ms=1500 → 200") || !strings.HasPrefix(lines[1], "GET /hello → 200") {
		t.Errorf("answers, latest first:\n%s\nwant the slow one on top: the fast one, sent second, answered first", answers)
	}
	tb.screenshot("try-overlapping-requests")
}

// Compare on the cpu example runs its variants, not the four models: a row
// for each (thread, reactor, reactor × 2 loops), each with its groups'
// rows, and the sentences of the fast group compare it with the variant
// before.
func TestBrowserCompareVariants(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "cpu")
	variants := []string{"thread", "reactor", "reactor + pool", "reactor + yield", "reactor × 2 loops"}
	if got := tb.evalString(`document.getElementById("variants").value.split("\n").filter(l => l.trim()).length + ""`); got != strconv.Itoa(len(variants)) {
		t.Fatalf("the cpu example's form shows %s variants, want %d", got, len(variants))
	}
	tb.clickStart("compare")
	tb.waitRun("Compare")
	rows := tb.evalString(`[...document.querySelectorAll("#compare-table tr.variant-row")].map(r => r.dataset.variant + ":" + (r.dataset.filled || "")).join(",")`)
	if want := "thread:1,reactor:1,reactor + pool:1,reactor + yield:1,reactor × 2 loops:1"; rows != want {
		t.Fatalf("variant rows %q, want %q", rows, want)
	}
	for _, m := range []string{"process", "event"} {
		if tb.evalString(`document.getElementById("summary-`+m+`").dataset.filled || ""`) == "1" {
			t.Errorf("Compare over variants also ran the %s model", m)
		}
	}
	sentence := func(variant, group string) string {
		return tb.evalString(`(() => { const c = document.querySelector('#compare-table tr.group-row[data-model="` + variant + `"][data-group="` + group + `"] [data-stat="sentence"]'); return c ? c.textContent : "(no row)" })()`)
	}
	if s := sentence("reactor", "fast"); !strings.Contains(s, "under thread)") || !strings.Contains(s, "behind slow") {
		t.Errorf("reactor's fast sentence %q should compare with the thread variant and name the slow group's hold", s)
	}
	// The pool takes the slow group's work off the loop: no hold is
	// blamed for the fast group's wait. (Yield cuts it into slices, but on
	// a machine too busy to deliver a request between two slices the
	// stretch is still one hold, and the sentence says so: its own test is
	// runtime's TestYieldPollsGoschedDoesNot.)
	if s := sentence("reactor + pool", "fast"); s == "(no row)" || strings.Contains(s, "behind slow") {
		t.Errorf("reactor + pool: the fast group's sentence %q still blames a hold of the loop", s)
	}
	if s := sentence("reactor + yield", "fast"); s == "(no row)" {
		t.Error("reactor + yield: no row for the fast group")
	}
	if s := sentence("reactor + pool", "fast"); !strings.Contains(s, "under reactor)") {
		t.Errorf("the pool's fast sentence %q should compare with the reactor variant", s)
	}
	if s := sentence("reactor × 2 loops", "fast"); !strings.Contains(s, "under reactor + yield)") {
		t.Errorf("two loops' fast sentence %q should compare with the variant before it", s)
	}
	tb.screenshot("compare-variants-cpu")
}

// The pool remedy on the page: 8 requests computing on a pool of 4
// threads under one loop. The timeline gets a lane per pool thread, the
// live panel the pool's counters, the summary what the pool did.
func TestBrowserThreadPool(t *testing.T) {
	srv := startServe(t, "")
	tb := newTab(t, newBrowser(t), false)
	tb.open(srv.URL + "/")
	tb.set("example", "cpu", "groups", "none", "knobs.thread_pool_threads", "4", "load.path", "/?ms=200&pool=1",
		"load.rate", "0", "load.concurrency", "8", "load.requests", "8", "load.duration_ms", "0", "load.keepalive", "false")
	tb.runModel("reactor")
	lanes := tb.evalString(`document.getElementById("timeline").dataset.lanes || ""`)
	for _, want := range []string{"loop 0", "pool 0.1", "pool 0.2", "pool 0.3", "pool 0.4"} {
		if !strings.Contains(","+lanes+",", ","+want+",") {
			t.Errorf("timeline lanes %q lack %q", lanes, want)
		}
	}
	if strings.Contains(lanes, "pool 0.5") {
		t.Errorf("timeline lanes %q: more pool threads than the 4 asked for", lanes)
	}
	tb.wait(`document.getElementById("pool-status").dataset.done === "8"`, 10*time.Second, "the pool's counters to show 8 tasks done")
	s := tb.evalString(`document.querySelector("#summary-reactor [data-stat=sentence]").textContent`)
	if !regexp.MustCompile(`the thread pool \(4 threads a process\) ran 8 tasks, (up to [1-4] waiting in its queue|none waiting)`).MatchString(s) {
		t.Errorf("the reactor's sentence %q does not say what the pool did", s)
	}
	tb.screenshot("pool-reactor-8-tasks-on-4-threads")
}
