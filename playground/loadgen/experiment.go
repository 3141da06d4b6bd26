package loadgen

import (
	"net/http"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// FromExperiment maps an experiment's load (normalized) to a Load against
// base ("http://127.0.0.1:8080"): a group for each of its groups (one for a
// load without groups), the whole load's bounds, and each request's
// timeout. Every request names its group in experiment.GroupHeader, so
// the workers' trace events say which group each request was.
func FromExperiment(l experiment.Load, base string, timeout time.Duration) Load {
	load := Load{Requests: l.Requests, Duration: time.Duration(l.DurationMS) * time.Millisecond}
	if len(l.Groups) == 0 {
		load.Requests, load.Duration = 0, 0 // the one group's own bounds
	}
	for _, g := range l.Traffic() {
		c := Config{
			URL:         base + g.Path,
			Method:      g.Method,
			Concurrency: g.Concurrency,
			Requests:    g.Requests,
			Duration:    time.Duration(g.DurationMS) * time.Millisecond,
			Rate:        g.Rate,
			Think:       time.Duration(g.ThinkMS) * time.Millisecond,
			KeepAlive:   experiment.On(g.KeepAlive),
			Timeout:     timeout,
		}
		if g.Body != "" {
			c.Body = []byte(g.Body)
		}
		c.Header = make(http.Header, len(g.Headers)+1)
		for k, v := range g.Headers {
			c.Header.Set(k, v)
		}
		c.Header.Set(experiment.GroupHeader, g.Name)
		load.Groups = append(load.Groups, Group{Name: g.Name, Config: c})
	}
	return load
}
