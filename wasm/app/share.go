//go:build js && wasm

package main

import (
	"syscall/js"

	"strings"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// share stores the experiment (POST /api/shares) and shows its two links:
// the short /p/<id> one and the self-contained #x= one.
func (a *app) share() {
	errEl := byID("share-error")
	a.error(errEl, "")
	e, err := a.experiment()
	if err != nil {
		a.showError(errEl, err.Error())
		return
	}
	origin := global.Get("location").Get("origin").String()
	go func() {
		var res struct {
			ID   string `json:"id"`
			URL  string `json:"url"`
			Base string `json:"base"` // the share service's origin, when the host publishes there
		}
		btn := byID("share")
		btn.Set("disabled", true)
		status := byID("status")
		setData(status, "busy", "1")
		defer func() {
			btn.Set("disabled", false)
			setData(status, "busy", "") // the browser build it may have waited for set it too
		}()
		e.Browser = formBrowser()
		setText(status, "sharing…")
		note := ""
		if e.Validate() == nil { // else the host's answer says what is wrong, with nothing built
			note = a.shareBlobs(&e)
		}
		if err := call("POST", "/api/shares", e, &res); err != nil {
			a.showError(errEl, "share: "+err.Error())
			return
		}
		a.form.SetNormalized()
		if res.Base != "" {
			origin = res.Base
		} else {
			global.Get("history").Call("replaceState", nil, "", res.URL)
		}
		url := byID("share-url")
		url.Set("value", origin+res.URL)
		byID("share-fragment").Set("value", origin+"/#x="+e.EncodeFragment())
		show(byID("share-panel"), true)
		url.Call("focus")
		url.Call("select")
		setText(status, "shared as "+res.ID+note)
	}()
}

// try sends one request to the handler under the form's model
// (POST /api/try) and shows the answer.
func (a *app) try() {
	errEl := byID("try-error")
	a.error(errEl, "")
	e, err := a.experiment()
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		a.showError(errEl, err.Error())
		return
	}
	req := struct {
		Experiment experiment.Experiment `json:"experiment"`
		Method     string                `json:"method"`
		Path       string                `json:"path"`
		Headers    map[string]string     `json:"headers"`
		Body       string                `json:"body"`
	}{
		Experiment: e,
		Method:     byID("try-method").Get("value").String(),
		Path:       strings.TrimSpace(byID("try-path").Get("value").String()),
		Headers:    map[string]string{},
		Body:       byID("try-body").Get("value").String(),
	}
	if req.Path == "" {
		req.Path = "/"
	}
	for _, line := range strings.Split(byID("try-headers").Get("value").String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			a.error(errEl, "header "+strings.TrimSpace(line)+": want Name: value")
			return
		}
		req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	// Requests may overlap, as the load's do: Send stays on, and each
	// answer is listed as it comes (a slow request and a fast one sent
	// after it show which answers first).
	btn := byID("try-send")
	label := strings.TrimSpace(req.Method + " " + req.Path)
	go func() {
		tries.inFlight++
		showTriesInFlight(btn)
		defer func() {
			tries.inFlight--
			showTriesInFlight(btn)
		}()
		var res struct {
			Model      string            `json:"model"`
			Status     int               `json:"status"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
			Truncated  bool              `json:"truncated"`
			DurationMS float64           `json:"duration_ms"`
			Worker     string            `json:"worker"`
			Error      string            `json:"error"`
			Log        []string          `json:"log"`
		}
		if err := call("POST", "/api/try", req, &res); err != nil {
			if ae, ok := err.(*apiError); ok && len(ae.Diagnostics) > 0 {
				a.ed.SetDiagnostics(ae.Diagnostics)
			}
			a.showError(errEl, err.Error())
			show(byID("try-result"), false)
			addTryAnswer(label + ": " + err.Error())
			return
		}
		addTryAnswer(label + " → " + itoa(res.Status) + " in " + ftoa(res.DurationMS, 1) + " ms from " + res.Worker)
		st := byID("try-status")
		setText(st, itoa(res.Status))
		setData(st, "class", itoa(res.Status/100)+"xx")
		setText(byID("try-time"), ftoa(res.DurationMS, 1)+" ms")
		setText(byID("try-worker"), res.Worker)
		var h strings.Builder
		keys := make([]string, 0, len(res.Headers))
		for k := range res.Headers {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			h.WriteString(k + ": " + res.Headers[k] + "\n")
		}
		setText(byID("try-headers-out"), h.String())
		body := res.Body
		if res.Truncated {
			body += "\n… (cut at 1 MiB)"
		}
		setText(byID("try-body-out"), body)
		if res.Error != "" {
			a.error(errEl, res.Error)
		}
		logEl := byID("try-log")
		setText(logEl, strings.Join(res.Log, "\n"))
		show(logEl, len(res.Log) > 0)
		setText(byID("try-model"), res.Model)
		show(byID("try-result"), true)
	}()
}

// tries counts the tries in flight.
var tries struct{ inFlight int }

// showTriesInFlight says on the Send button how many tries are in flight.
func showTriesInFlight(btn js.Value) {
	text := "Send"
	if tries.inFlight > 0 {
		text = "Send (" + itoa(tries.inFlight) + " in flight)"
	}
	setText(btn, text)
	setData(btn, "inflight", itoa(tries.inFlight))
}

// maxTryAnswers is how many answers the list keeps.
const maxTryAnswers = 20

// addTryAnswer puts an answer at the top of the list of answers, in the
// order they came.
func addTryAnswer(text string) {
	list := byID("try-answers")
	show(list, true)
	list.Call("prepend", create("li", "", text))
	for list.Get("children").Get("length").Int() > maxTryAnswers {
		list.Get("lastElementChild").Call("remove")
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
