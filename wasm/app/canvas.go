//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/app/internal/live"
)

// canvas draws a live.Scene on a <canvas>, sized to its box and the
// screen's pixel ratio.
type canvas struct {
	el, ctx js.Value
	w, h    float64 // CSS pixels
}

func newCanvas(id string) *canvas {
	el := byID(id)
	return &canvas{el: el, ctx: el.Call("getContext", "2d")}
}

// palette is the colour of each role, resolved from the CSS custom
// properties --c-<role> (which follow the theme).
var palette [live.NColors]string

// loadPalette resolves the colours through a probe element: custom
// properties may hold light-dark(…), which a canvas does not understand.
func loadPalette() {
	probe := byID("color-probe")
	style := global.Call("getComputedStyle", probe)
	for i, name := range live.ColorNames {
		probe.Get("style").Set("color", "var(--c-"+name+")")
		palette[i] = style.Get("color").String()
	}
}

// size fits the backing store to the element and returns its CSS size.
func (c *canvas) size() (float64, float64) {
	w, h := c.el.Get("clientWidth").Float(), c.el.Get("clientHeight").Float()
	dpr := global.Get("devicePixelRatio").Float()
	if dpr <= 0 {
		dpr = 1
	}
	bw, bh := int(w*dpr+0.5), int(h*dpr+0.5)
	if c.el.Get("width").Int() != bw || c.el.Get("height").Int() != bh {
		c.el.Set("width", bw)
		c.el.Set("height", bh)
	}
	c.ctx.Call("setTransform", dpr, 0, 0, dpr, 0, 0)
	c.w, c.h = w, h
	return w, h
}

// draw clears the canvas and draws s.
func (c *canvas) draw(s *live.Scene) {
	ctx := c.ctx
	ctx.Call("clearRect", 0, 0, c.w, c.h)
	cur := live.Color(255)
	for _, r := range s.Rects {
		if r.C != cur {
			cur = r.C
			ctx.Set("fillStyle", palette[cur])
		}
		ctx.Call("fillRect", r.X, r.Y, r.W, r.H)
	}
	for _, l := range s.Lines {
		if len(l.XY) < 4 {
			continue
		}
		ctx.Set("strokeStyle", palette[l.C])
		ctx.Set("lineWidth", l.Width)
		ctx.Call("beginPath")
		ctx.Call("moveTo", l.XY[0], l.XY[1])
		for i := 2; i+1 < len(l.XY); i += 2 {
			ctx.Call("lineTo", l.XY[i], l.XY[i+1])
		}
		ctx.Call("stroke")
	}
	if len(s.Labels) > 0 {
		ctx.Set("font", "11px system-ui, sans-serif")
		align := byte(0)
		cur = 255
		for _, lb := range s.Labels {
			if lb.C != cur {
				cur = lb.C
				ctx.Set("fillStyle", palette[cur])
			}
			if lb.Align != align {
				align = lb.Align
				switch align {
				case 'r':
					ctx.Set("textAlign", "right")
				case 'c':
					ctx.Set("textAlign", "center")
				default:
					ctx.Set("textAlign", "left")
				}
			}
			ctx.Call("fillText", lb.Text, lb.X, lb.Y)
		}
	}
}
