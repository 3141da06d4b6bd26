//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// The API client: the browser's fetch, called from Go. net/http would do
// the same through a much larger binary.

// tabID names this tab to the API (one run per tab).
var tabID = randomID()

func randomID() string {
	b := global.Get("Uint8Array").New(9)
	global.Get("crypto").Call("getRandomValues", b)
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	out := make([]byte, 9)
	for i := range out {
		out[i] = digits[b.Index(i).Int()%len(digits)]
	}
	return string(out)
}

// apiError is an answer other than 2xx: its status and the API's message.
type apiError struct {
	Status      int
	Message     string
	Diagnostics []stream.Diagnostic
}

func (e *apiError) Error() string { return e.Message }

// await waits for a JavaScript promise. Call it from a goroutine, never
// from an event callback.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var ok, fail js.Func
	ok = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	fail = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "failed"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	p.Call("then", ok, fail)
	r := <-ch
	ok.Release()
	fail.Release()
	return r.v, r.err
}

// call sends a request to the API with a JSON body (nil: none) and decodes
// a 2xx answer into out (nil: ignore it). Any other answer is an *apiError.
func call(method, url string, body any, out any) error {
	opts := global.Get("Object").New()
	opts.Set("method", method)
	headers := global.Get("Object").New()
	headers.Set(tabHeader, tabID)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		headers.Set("Content-Type", "application/json")
		opts.Set("body", string(b))
	}
	opts.Set("headers", headers)
	resp, err := await(global.Call("fetch", apiURL(url), opts))
	if err != nil {
		if msg := needHost("This"); msg != "" && apiURL(url) != url {
			return &apiError{Message: msg}
		}
		return &apiError{Message: "cannot reach mpmlab: " + err.Error()}
	}
	status := resp.Get("status").Int()
	text, err := await(resp.Call("text"))
	if err != nil {
		return &apiError{Status: status, Message: "reading the answer: " + err.Error()}
	}
	data := []byte(text.String())
	if status < 200 || status > 299 {
		var e struct {
			Error       string              `json:"error"`
			Diagnostics []stream.Diagnostic `json:"diagnostics"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = resp.Get("statusText").String()
			if len(data) > 0 && len(data) < 300 {
				e.Error = string(data)
			}
		}
		return &apiError{Status: status, Message: e.Error, Diagnostics: e.Diagnostics}
	}
	if out == nil || status == 204 {
		return nil
	}
	if ex, ok := out.(*experiment.Experiment); ok {
		e, err := experiment.Unmarshal(data)
		*ex = e
		return err
	}
	return json.Unmarshal(data, out)
}

const tabHeader = "X-Mpmlab-Tab"
