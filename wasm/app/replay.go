//go:build js && wasm

package main

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"syscall/js"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/experiment/record"
)

// A share carries, besides the experiment, its recorded run and the
// handler's browser build (blobs, playground/API.md). Recording: every
// host run's stream is kept (run.rec, bounded by package record) and the
// last one that ran to its end goes with a Share of the same experiment.
// Replay feeds the recorded messages, at their recorded times, to the same
// handlers the live stream has (follow), so the live view draws exactly
// what the sender saw.

// recordedEvents are the stream's events a recording keeps: what the live
// view, the summary and the compare table are drawn from.
var recordedEvents = map[string]bool{"phase": true, "trace": true, "stats": true, "summary": true, "done": true}

// lastRecorded is the last host run whose stream ended ("done").
var lastRecorded *run

// sharedBlobs are the blobs of the share this page opened, for a Share of
// the same experiment from a page without a host (the share service's).
var sharedBlobs struct {
	shareID             string // of the experiment without its blobs and browser settings
	recording, jsModule string
}

// plainID is the share id of e without what a share adds to it: the
// identity of the experiment a recording was made of.
func plainID(e experiment.Experiment) string {
	e.Browser, e.Recording, e.BrowserBuild = nil, "", ""
	return e.ShareID()
}

// restoreShared applies what a share carries beyond the experiment: the
// browser settings, the browser build (Run in browser needs no host), and
// the recorded run, which it replays.
func (a *app) restoreShared(e experiment.Experiment) {
	if b := e.Browser; b != nil {
		byID("browser-model").Set("value", b.Model)
		byID("browser-workers").Set("value", b.Workers)
		byID("browser-model").Call("dispatchEvent", global.Get("Event").New("change"))
	}
	sharedBlobs.shareID, sharedBlobs.recording, sharedBlobs.jsModule = plainID(e), e.Recording, e.BrowserBuild
	if e.BrowserBuild != "" {
		built[experiment.Experiment{Source: e.Source}.ShareID()] = "/api/blobs/" + e.BrowserBuild
	}
	if e.Recording != "" {
		go a.replay(e)
	}
}

// showRecording marks the live view as a recording made on m, or (nil) as
// live.
func showRecording(m *record.Machine) {
	note := byID("recording-note")
	if m == nil {
		setData(byID("live"), "recording", "")
		show(note, false)
		return
	}
	setData(byID("live"), "recording", "1")
	setText(note, "Recording: a run on the sender's machine ("+m.String()+"), replayed as it was measured. Run it yourself with Run on host or Run in browser.")
	show(note, true)
}

// replay fetches the share's recording and plays it into the live view.
func (a *app) replay(e experiment.Experiment) {
	status := byID("status")
	data, err := fetchBytes("/api/blobs/" + e.Recording)
	var rec record.Recording
	if err == nil {
		rec, err = record.Decode(data)
	}
	if err != nil {
		a.error(byID("restore-error"), "could not replay the recorded run: "+err.Error())
		return
	}
	for a.run != nil { // a run started before the recording came: wait for it
		time.Sleep(100 * time.Millisecond)
	}
	plain := e
	plain.Browser, plain.Recording, plain.BrowserBuild = nil, "", ""
	r := &run{key: rowKey(plain), replay: true, groups: groupNames(plain.Load)}
	a.run = r
	a.running(true)
	showRecording(&rec.Machine)
	setText(status, "replaying the recorded run…")
	handlers := map[string]func([]byte){}
	a.follow(r, func(name string, f func([]byte)) { handlers[name] = f })
	now := func() float64 { return global.Get("performance").Call("now").Float() }
	start := now()
	for _, m := range rec.Messages {
		if a.run != r {
			return
		}
		if wait := m.T - (now() - start); wait > 0 {
			time.Sleep(time.Duration(wait * float64(time.Millisecond)))
		}
		if f := handlers[m.Event]; f != nil {
			f(m.Data)
		}
	}
	if a.run == r {
		a.runEnded("")
	}
	msg := "recording replayed"
	if rec.DroppedTraces > 0 {
		msg += " (" + strconv.Itoa(rec.DroppedTraces) + " trace batches left out to fit)"
	}
	setText(status, msg)
	setData(document.Get("body"), "replayed", "1")
}

// fetchBytes GETs url and returns its body.
func fetchBytes(url string) ([]byte, error) {
	resp, err := await(global.Call("fetch", url))
	if err != nil {
		return nil, &apiError{Message: "cannot reach " + url + ": " + err.Error()}
	}
	if st := resp.Get("status").Int(); st != 200 {
		return nil, &apiError{Status: st, Message: url + ": " + resp.Get("statusText").String()}
	}
	buf, err := await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	u8 := global.Get("Uint8Array").New(buf)
	out := make([]byte, u8.Length())
	js.CopyBytesToGo(out, u8)
	return out, nil
}

// postBlob stores data on the page's share origin (POST /api/blobs)
// unless it is there already, and returns its id.
func postBlob(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	id := base64.RawURLEncoding.EncodeToString(sum[:])
	head := global.Get("Object").New()
	head.Set("method", "HEAD")
	if resp, err := await(global.Call("fetch", "/api/blobs/"+id, head)); err == nil && resp.Get("status").Int() == 200 {
		return id, nil
	}
	u8 := global.Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	opts := global.Get("Object").New()
	opts.Set("method", "POST")
	headers := global.Get("Object").New()
	headers.Set("Content-Type", "application/octet-stream")
	headers.Set(tabHeader, tabID)
	opts.Set("headers", headers)
	opts.Set("body", u8)
	resp, err := await(global.Call("fetch", "/api/blobs", opts))
	if err != nil {
		return "", &apiError{Message: "storing a blob: " + err.Error()}
	}
	if st := resp.Get("status").Int(); st != 200 {
		text, _ := await(resp.Call("text"))
		return "", &apiError{Status: st, Message: "storing a blob: " + text.String()}
	}
	return id, nil
}

// shareBlobs adds to e (about to be shared) its recording and browser
// build, when the page has them; what it cannot add it says in the
// returned note.
func (a *app) shareBlobs(e *experiment.Experiment) (note string) {
	id := plainID(*e)
	switch r := lastRecorded; {
	case r != nil && r.shareID == id && r.rec != nil && r.rec.Len() > 0:
		blob, err := r.rec.Recording(hostMachine).Encode()
		if err == nil {
			e.Recording, err = postBlob(blob)
		}
		if err != nil {
			note += " (without the recorded run: " + err.Error() + ")"
		}
	case sharedBlobs.shareID == id && sharedBlobs.recording != "":
		e.Recording = sharedBlobs.recording
	}
	key := experiment.Experiment{Source: e.Source}.ShareID()
	if url, ok := built[key]; ok && url == "/api/blobs/"+sharedBlobs.jsModule {
		e.BrowserBuild = sharedBlobs.jsModule
		return note
	}
	if !hostFound {
		return note
	}
	url, err := a.buildForBrowser(e.Source)
	var data []byte
	if err == nil {
		data, err = fetchBytes(url)
	}
	if err == nil {
		e.BrowserBuild, err = postBlob(data)
	}
	if err != nil {
		note += " (without the browser build: " + err.Error() + ")"
	}
	return note
}

// formBrowser returns the form's "Run in browser" settings, for a
// share.
func formBrowser() *experiment.Browser {
	workers, _ := strconv.Atoi(byID("browser-workers").Get("value").String())
	return &experiment.Browser{
		Model:   byID("browser-model").Get("value").String(),
		Workers: min(max(workers, 1), experiment.MaxBrowserWorkers),
	}
}
