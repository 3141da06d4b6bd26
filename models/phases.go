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

// ParsePhases reads a PhasesHeader value. ok is false if it is malformed.
func ParsePhases(v string) (p RequestPhases, ok bool) {
	fields := map[string]*time.Duration{"wait": &p.Wait, "service": &p.Service, "run": &p.Run, "hold": &p.Hold}
	seen := 0
	for _, f := range strings.Fields(v) {
		k, val, found := strings.Cut(f, "=")
		if !found {
			return RequestPhases{}, false
		}
		if k == "where" {
			p.Where = val
			continue
		}
		d := fields[k]
		if d == nil {
			continue // a field of a later version
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return RequestPhases{}, false
		}
		*d = time.Duration(n)
		seen++
	}
	return p, seen == len(fields)
}
