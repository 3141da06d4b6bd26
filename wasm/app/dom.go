//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
)

// The few DOM helpers the app needs, over syscall/js.

var (
	global   = js.Global()
	document = global.Get("document")
	funcs    []js.Func // callbacks live as long as the page
)

// byID returns the element with id, panicking if index.html lacks it: a
// missing element is a bug between the HTML and the app.
func byID(id string) js.Value {
	el := document.Call("getElementById", id)
	if el.IsNull() {
		panic("index.html has no #" + id)
	}
	return el
}

// elementByID returns the element with id, or null: for elements the app
// makes itself (a variant's row), which may not be there.
func elementByID(id string) js.Value { return document.Call("getElementById", id) }

// query returns the first element under root matching selector (maybe null).
func query(root js.Value, selector string) js.Value {
	return root.Call("querySelector", selector)
}

// on calls f for every ev event on el. f runs on the browser's thread and
// must not block: start a goroutine for anything that waits.
func on(el js.Value, ev string, f func(e js.Value)) {
	funcs = append(funcs, listen(el, ev, f))
}

// listen is on for a listener that does not live as long as the page: the
// caller releases the returned func when it is done with el.
func listen(el js.Value, ev string, f func(e js.Value)) js.Func {
	fn := js.FuncOf(func(this js.Value, args []js.Value) any {
		var e js.Value
		if len(args) > 0 {
			e = args[0]
		}
		f(e)
		return nil
	})
	el.Call("addEventListener", ev, fn)
	return fn
}

// create makes an element with a class and text.
func create(tag, class, text string) js.Value {
	el := document.Call("createElement", tag)
	if class != "" {
		el.Set("className", class)
	}
	if text != "" {
		el.Set("textContent", text)
	}
	return el
}

func setText(el js.Value, s string) {
	if el.Get("textContent").String() != s {
		el.Set("textContent", s)
	}
}

func setData(el js.Value, key, value string) { el.Get("dataset").Set(key, value) }

func show(el js.Value, visible bool) { el.Set("hidden", !visible) }

func clearChildren(el js.Value) { el.Set("textContent", "") }

// raf runs f on the next animation frame.
func raf(f func()) {
	var fn js.Func
	fn = js.FuncOf(func(js.Value, []js.Value) any {
		fn.Release()
		f()
		return nil
	})
	global.Call("requestAnimationFrame", fn)
}

// after runs f once after ms milliseconds; the returned function cancels
// it if it has not run.
func after(ms int, f func()) (cancel func()) {
	done := false
	var fn js.Func
	fn = js.FuncOf(func(js.Value, []js.Value) any {
		if !done {
			done = true
			fn.Release()
			f()
		}
		return nil
	})
	id := global.Call("setTimeout", fn, ms)
	return func() {
		if !done {
			done = true
			global.Call("clearTimeout", id)
			fn.Release()
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
