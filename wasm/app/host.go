//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"

	"github.com/mpmlab/mpmlab/wasm/experiment/record"
)

// Where the API is. A page served by `mpmlab serve` calls its own origin
// for everything. A page served by the share service (cmd/mpmlab-share)
// has shares and blobs on its own origin, and looks for a local host for
// the rest (examples, builds, runs, tries): http://127.0.0.1:8080 by
// default, or the address the person gives in #host-addr. The host must
// allow the service's origin (mpmlab serve --allow-origin, with CORS and
// the Private Network Access preflight, playground/access.go).
var (
	// hostBase is the origin of the host the page uses: "" for its own
	// origin, or a local host's when the page is a share service's;
	// hostFound says whether there is one.
	hostBase  string
	hostFound bool
	// hostMachine is the host's machine (GET /api/host), which a recording
	// names.
	hostMachine record.Machine
)

// defaultHost is where the share service's page first looks for a host.
const defaultHost = "http://127.0.0.1:8080"

// hostStorageKey keeps the address the person gave, across visits.
const hostStorageKey = "mpmlab.host"

// apiURL returns the URL of an API path: the share endpoints on the page's
// own origin, everything else on the host's.
func apiURL(path string) string {
	if strings.HasPrefix(path, "/api/shares") || strings.HasPrefix(path, "/api/blobs") || !strings.HasPrefix(path, "/api/") {
		return path
	}
	return hostBase + path
}

// hostInfo is GET /api/host.
type hostInfo struct {
	Cores        int    `json:"cores"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	ShareService string `json:"share_service"`
}

// findHost decides where the API is: the page's own origin if it is a
// host, else a local host that allows this origin. It runs before the
// page loads its examples.
func (a *app) findHost() {
	var info hostInfo
	if err := call("GET", "/api/host", nil, &info); err == nil {
		hostFound, hostMachine = true, record.Machine{Cores: info.Cores, OS: info.OS, Arch: info.Arch}
		return
	}
	// No host answers on the page's own origin: it is a share service's.
	addr := defaultHost
	if st := global.Get("localStorage"); st.Truthy() {
		if v := st.Call("getItem", hostStorageKey); v.Truthy() {
			addr = v.String()
		}
	}
	byID("host-addr").Set("value", addr)
	a.connectHost(addr)
}

// connectHost tries the host at addr and says on the page what it found.
func (a *app) connectHost(addr string) bool {
	addr = strings.TrimRight(strings.TrimSpace(addr), "/")
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	var info hostInfo
	saved := hostBase
	hostBase = addr
	err := call("GET", "/api/host", nil, &info)
	line := byID("host-line")
	show(line, true)
	if err != nil {
		hostBase, hostFound = saved, false
		setText(byID("host-says"), hostMissing(addr))
		setData(line, "state", "missing")
		return false
	}
	hostFound, hostMachine = true, record.Machine{Cores: info.Cores, OS: info.OS, Arch: info.Arch}
	setText(byID("host-says"), "Using your mpmlab host at "+addr+" ("+hostMachine.String()+") to build and run.")
	setData(line, "state", "connected")
	if st := global.Get("localStorage"); st.Truthy() {
		st.Call("setItem", hostStorageKey, addr)
	}
	return true
}

// hostMissing is the one line that says what to run.
func hostMissing(addr string) string {
	origin := global.Get("location").Get("origin").String()
	return "No mpmlab host at " + addr + " allows this page: to build and run on your machine, run  mpmlab serve --allow-origin " + origin + "  (or give its address)."
}

// needHost returns "" when the page has a host, else the line that says
// what to run; what names what needs it ("Run on host").
func needHost(what string) string {
	if hostFound {
		return ""
	}
	return what + " needs a host. " + hostMissing(byID("host-addr").Get("value").String())
}

// bindHost wires the host address field.
func (a *app) bindHost() {
	connect := func() {
		addr := byID("host-addr").Get("value").String()
		go a.connectHost(addr)
	}
	on(byID("host-connect"), "click", func(js.Value) { connect() })
	on(byID("host-addr"), "keydown", func(e js.Value) {
		if e.Get("key").String() == "Enter" {
			e.Call("preventDefault")
			connect()
		}
	})
}
