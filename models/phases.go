package models

import (
	"strconv"
	"strings"
	"time"
)

// PhasesHeader is the request header that asks a worker for the request's
// server-side phases; the response carries them in a header of the same
// name, which ParsePhases reads. Clients that measure the server from
// outside (mpmlab bench) use it, so they need no trace.
const PhasesHeader = "X-Mpmlab-Phases"

// RequestPhases is one request's server-side phases (see Event's Wait,
// Service, Run, Hold and Where).
type RequestPhases struct {
	Wait, Service, Run, Hold time.Duration
	Where                    string
}

// ParsePhases reads a PhasesHeader value ("wait=NS service=NS run=NS
// hold=NS where=POS"). ok is false if it is malformed. It allocates only
// the Where string: bench calls it for every response.
func ParsePhases(v string) (p RequestPhases, ok bool) {
	seen := 0
	for v != "" {
		var f string
		f, v, _ = strings.Cut(v, " ")
		k, val, found := strings.Cut(f, "=")
		if !found {
			return RequestPhases{}, false
		}
		var d *time.Duration
		switch k {
		case "where":
			p.Where = val
			continue
		case "wait":
			d = &p.Wait
		case "service":
			d = &p.Service
		case "run":
			d = &p.Run
		case "hold":
			d = &p.Hold
		default:
			continue // a field of a later version
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return RequestPhases{}, false
		}
		*d = time.Duration(n)
		seen++
	}
	return p, seen == 4
}

// AppendPhases appends p in the form ParsePhases reads.
func AppendPhases(b []byte, p RequestPhases) []byte {
	b = append(b, "wait="...)
	b = strconv.AppendInt(b, int64(p.Wait), 10)
	b = append(b, " service="...)
	b = strconv.AppendInt(b, int64(p.Service), 10)
	b = append(b, " run="...)
	b = strconv.AppendInt(b, int64(p.Run), 10)
	b = append(b, " hold="...)
	b = strconv.AppendInt(b, int64(p.Hold), 10)
	b = append(b, " where="...)
	return append(b, p.Where...)
}
