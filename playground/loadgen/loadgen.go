// Package loadgen is the HTTP load generator behind `mpmlab bench` and the
// playground's experiment runner, in the spirit of hey, oha and wrk2.
//
// It only ever targets a loopback URL (127.0.0.0/8, ::1 or localhost), and a
// run is always bounded: never more than MaxRequests requests, never longer
// than MaxDuration (plus the drain of requests already in flight).
//
// Two ways to apply load:
//
//   - Closed loop (Rate == 0): Concurrency clients each send a request, wait for
//     the response, and send the next. The server sets the pace: when it slows
//     down, the clients slow down with it, and the time a request would have
//     spent waiting is never measured. This is "coordinated omission".
//   - Open loop (Rate > 0): requests are scheduled at a fixed rate whatever the
//     server does, and latency is measured from the scheduled time. A server
//     that stalls for a second shows a second of latency for every request
//     that was due during the stall, as real users would see it.
//
// Usage:
//
//	sum, err := loadgen.Run(ctx, loadgen.Config{
//		URL:         "http://127.0.0.1:8080/",
//		Concurrency: 50,
//		Duration:    5 * time.Second,
//	})
//	if err != nil {
//		return err
//	}
//	loadgen.WriteText(os.Stdout, sum, "reactor")
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Limits of a run. Validate enforces them; each is checked next to its field.
const (
	// MaxConcurrency caps Config.Concurrency: clients in closed loop, requests in
	// flight in open loop. Each holds a connection (a file descriptor of
	// this process: models.RaiseNoFile raises the limit), so that ten
	// thousand clients can hold ten thousand long-lived connections.
	MaxConcurrency = 10_000
	// MaxRequests caps Config.Requests, and also the requests a Duration-bound
	// run may send, so that the recorded latencies stay under 8 MB.
	MaxRequests = 1_000_000
	// MaxDuration caps Config.Duration and Config.Timeout, and bounds a run
	// given by Requests alone.
	MaxDuration = 5 * time.Minute
	// MaxRate caps Config.Rate, in requests per second.
	MaxRate = 100_000
	// MaxThink caps Config.Think.
	MaxThink = time.Minute
)

// Defaults for zero fields of Config.
const (
	defaultMethod          = http.MethodGet
	defaultConcurrency     = 10   // closed loop: clients
	defaultOpenConcurrency = 1000 // open loop: cap on requests in flight
	defaultDuration        = 10 * time.Second
	defaultTimeout         = 30 * time.Second

	// dialTimeout bounds a TCP connect. A loopback connect completes at once
	// even when the server is busy (the kernel queues it in the listen
	// backlog); it only takes long when the backlog itself overflows and SYNs
	// are dropped, which is worth reporting as a timeout.
	dialTimeout = 5 * time.Second
)

// Config describes one load run. The zero value of every field but URL is a
// useful default.
//
// # Notes
//
//   - Run does not modify Header or Body; the caller must not modify them
//     while Run is in progress (they are shared by every request).
//   - Redirects are not followed: a 3xx response is a result like any other
//     (and counts as succeeded). Following one could leave loopback.
type Config struct {
	// URL is the target. It must be http:// on a loopback host:
	// http://127.0.0.1:PORT/..., http://localhost:PORT/... or
	// http://[::1]:PORT/.... Whatever the name resolves to, Run refuses to
	// dial anything but a loopback address.
	URL string

	// Method is the HTTP method. Default GET.
	Method string

	// Body is sent with every request, if not empty.
	Body []byte

	// Header is added to every request.
	Header http.Header

	// StampSent sets experiment.SentHeader on every request to when it is
	// sent, so that the server can tell how long it waited to be taken.
	StampSent bool

	// Concurrency is, in closed loop, the number of clients, each with one
	// request outstanding at a time (default 10). In open loop it is the cap
	// on requests in flight (default 1000): a request that is due while the
	// cap is reached waits for a free slot, and that wait counts in its
	// latency. Range 1..MaxConcurrency; 0 means the default.
	Concurrency int

	// Requests is the total number of requests to send, in closed or open
	// loop. 0 means the run is bounded by Duration instead.
	Requests int

	// Duration is how long to send requests for when Requests is 0 (default
	// 10s). When Requests is set, a non-zero Duration is an extra bound: the
	// run stops at whichever comes first; a zero Duration then means
	// MaxDuration (and in open loop, Validate rejects Requests/Rate beyond
	// it). Requests in flight at the end are allowed to finish.
	Duration time.Duration

	// Rate, if > 0, selects the open loop: requests are scheduled at this
	// fixed rate (requests per second, up to MaxRate), independent of
	// responses, and latency is measured from the scheduled send time, so it
	// includes any wait in the client. This is what exposes coordinated
	// omission. 0 selects the closed loop.
	Rate float64

	// Think, in closed loop, is how long each client waits after a
	// response before it sends its next request, on the same connection if
	// kept alive: a person reading a page. 0: none. An open loop has no
	// think time (its schedule is the rate).
	Think time.Duration

	// KeepAlive, if false, sends every request on a new TCP connection. If
	// true, connections are reused: in closed loop each client keeps a
	// connection of its own, in open loop the senders share a pool of them.
	// A client (a sender) that is done closes its idle connection.
	KeepAlive bool

	// Timeout bounds each request, from the moment it is sent until its body
	// has been read (default 30s, max MaxDuration).
	Timeout time.Duration

	// OnResult, if not nil, is called with every finished request, from the
	// goroutine that sent it: calls are concurrent and must be cheap. It is the
	// only place Result.Header is available.
	OnResult func(Result)
}

// Validate reports the first field of c that is out of range, naming the field
// and its range, e.g. "concurrency 5000 out of range 1..1000". Zero fields are
// valid: they mean the documented default. Run calls Validate.
func (c Config) Validate() error {
	if err := checkURL(c.URL); err != nil {
		return err
	}
	if c.Method != "" {
		if _, err := http.NewRequest(c.Method, c.URL, nil); err != nil {
			return fmt.Errorf("method %q: %v", c.Method, err)
		}
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		return fmt.Errorf("concurrency %d out of range 1..%d", c.Concurrency, MaxConcurrency)
	}
	if c.Requests < 0 || c.Requests > MaxRequests {
		return fmt.Errorf("requests %d out of range 0..%d", c.Requests, MaxRequests)
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return fmt.Errorf("duration %v out of range 0..%v", c.Duration, MaxDuration)
	}
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate {
		return fmt.Errorf("rate %v out of range 0..%d requests/s", c.Rate, MaxRate)
	}
	if c.Rate > 0 && c.Requests > 0 && c.Duration == 0 {
		// Without a Duration the run is cut at MaxDuration: say so rather
		// than send fewer requests than asked.
		if d := time.Duration(float64(c.Requests) / c.Rate * float64(time.Second)); d > MaxDuration {
			return fmt.Errorf("requests %d at rate %v/s take %v, over the max duration %v: lower requests or set a duration",
				c.Requests, c.Rate, d.Round(time.Second), MaxDuration)
		}
	}
	if c.Timeout < 0 || c.Timeout > MaxDuration {
		return fmt.Errorf("timeout %v out of range 0..%v", c.Timeout, MaxDuration)
	}
	if c.Think < 0 || c.Think > MaxThink {
		return fmt.Errorf("think %v out of range 0..%v", c.Think, MaxThink)
	}
	if c.Think > 0 && c.Rate > 0 {
		return errors.New("think time is for a closed loop: an open loop's schedule is its rate")
	}
	return nil
}

// checkURL accepts only http URLs whose host is a loopback address or
// "localhost".
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("url is required: a loopback URL such as http://127.0.0.1:8080/")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %v", err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("url %q: scheme must be http", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("loadgen only targets loopback, got %q", raw)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNotLoopback is returned by the dialer when a name resolved to an address
// outside loopback.
var errNotLoopback = errors.New("loadgen only targets loopback")

// dialLoopbackOnly is a net.Dialer.Control: it runs after name resolution,
// on the address about to be connected, and refuses anything but loopback.
func dialLoopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: refusing to dial %s", errNotLoopback, address)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Method == "" {
		c.Method = defaultMethod
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultConcurrency
		if c.Rate > 0 {
			c.Concurrency = defaultOpenConcurrency
		}
	}
	if c.Requests == 0 && c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Duration == 0 { // Requests set: bounded by MaxDuration
		c.Duration = MaxDuration
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	return c
}

// Run sends load to cfg.URL and returns its summary.
//
// # Notes
//
//   - Bounds: no request is started after Duration (or after Requests have
//     been sent). Requests in flight then finish, each within Timeout. In open
//     loop, requests that were due before the end but are still waiting for a
//     free slot are sent too; those still waiting Timeout after the end are
//     recorded as errors of kind "not sent", never dropped silently.
//   - Cancellation: when ctx is done, Run stops sending, abandons the requests
//     in flight (they are not recorded: they were interrupted by the caller,
//     not failed by the server), and returns the summary of what finished
//     together with ctx.Err(). So a non-nil summary comes with every error
//     except an invalid Config, and err != nil tells a cut-short run from a
//     complete one.
//   - Connections: each closed-loop client has its own, open-loop senders
//     share a pool; a client or sender closes its idle connection as soon as
//     it has sent its last request. A finished client
//     that kept an idle keep-alive connection open would hold a prefork
//     process or a thread until the server's keep-alive timeout, while the
//     clients still running wait in the accept queue: the run would end
//     late, its rate diluted by a tail the load did not make.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	sum, err := RunLoad(ctx, Load{Groups: []Group{{Config: cfg}}, OnResult: cfg.OnResult})
	if sum != nil {
		sum.Groups = nil // one group: the summary is its own
	}
	return sum, err
}

// Group is one kind of traffic in a Load: a Config of its own (its
// request, and its arrival: closed loop or open) under a name. The
// group's OnResult is not called; the Load's is.
type Group struct {
	Name string
	Config
}

// Load is several groups of clients run at once, each with its own
// request and arrival, as k6's scenarios are: fast requests beside slow
// ones, so what the slow group does to the fast one shows in the fast
// group's latency.
//
// Requests and Duration bound the whole load; each group's own Requests
// and Duration bound that group too (the first bound reached ends it).
type Load struct {
	Groups []Group
	// Requests caps the requests of every group together (0: no cap but
	// the groups' own, and MaxRequests).
	Requests int
	// Duration caps every group's Duration (0: each group's own).
	Duration time.Duration
	// OnResult, if not nil, is called with every finished request of
	// every group (Result.Group is the group's index), from the goroutine
	// that sent it: calls are concurrent and must be cheap.
	OnResult func(Result)
}

// MaxGroups caps Load.Groups.
const MaxGroups = 16

// Validate reports the first field of l out of range, naming the group
// when there are several: "group slow: rate -1 out of range ...".
func (l Load) Validate() error {
	if len(l.Groups) == 0 || len(l.Groups) > MaxGroups {
		return fmt.Errorf("a load has 1..%d groups, got %d", MaxGroups, len(l.Groups))
	}
	if l.Requests < 0 || l.Requests > MaxRequests {
		return fmt.Errorf("requests %d out of range 0..%d", l.Requests, MaxRequests)
	}
	if l.Duration < 0 || l.Duration > MaxDuration {
		return fmt.Errorf("duration %v out of range 0..%v", l.Duration, MaxDuration)
	}
	seen := map[string]bool{}
	for _, g := range l.Groups {
		if err := l.groupConfig(g.Config).Validate(); err != nil {
			if len(l.Groups) == 1 {
				return err
			}
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
		if len(l.Groups) > 1 && (g.Name == "" || seen[g.Name]) {
			return fmt.Errorf("group %q: each group of a load needs a name of its own", g.Name)
		}
		seen[g.Name] = true
	}
	return nil
}

// groupConfig is a group's Config under the whole load's bounds: the
// load's Duration caps the group's, and a group with no bound of its own
// under a load capped by Requests alone runs until the cap (or
// MaxDuration).
func (l Load) groupConfig(c Config) Config {
	if l.Duration > 0 && (c.Duration == 0 || c.Duration > l.Duration) {
		c.Duration = l.Duration
	}
	if c.Requests == 0 && c.Duration == 0 && l.Requests > 0 {
		c.Duration = MaxDuration
	}
	c.OnResult = nil
	return c
}

// RunLoad runs every group of l at once and returns the summary of the
// whole load, with each group's in Summary.Groups (in the order of
// l.Groups). Run's notes hold for each group.
func RunLoad(ctx context.Context, l Load) (*Summary, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	total := &budget{limit: int64(l.Requests)}
	if total.limit == 0 {
		total.limit = MaxRequests
	}
	start := time.Now()
	groups := make([][]*tally, len(l.Groups))
	var wg sync.WaitGroup
	for i, g := range l.Groups {
		r := &runner{cfg: l.groupConfig(g.Config).withDefaults(), group: i, total: total, onResult: l.OnResult}
		wg.Go(func() {
			if r.cfg.Rate > 0 {
				groups[i] = r.openLoop(ctx, start)
			} else {
				groups[i] = r.closedLoop(ctx, start)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := &tally{}
	var groupSums []GroupSummary
	for i, tallies := range groups {
		group := &tally{}
		for _, t := range tallies {
			group.merge(t)
		}
		all.merge(group)
		groupSums = append(groupSums, GroupSummary{Name: l.Groups[i].Name, Summary: group.summary(elapsed)})
	}
	sum := all.summary(elapsed)
	sum.Groups = groupSums
	return sum, ctx.Err()
}

// budget is a count of requests shared by the groups of a load.
type budget struct {
	issued atomic.Int64
	limit  int64
}

// take reports whether one more request may be sent, and counts it.
func (b *budget) take() bool { return b.issued.Add(1) <= b.limit }

// runner holds what every request of one group shares.
type runner struct {
	cfg      Config
	group    int     // index in the load, for Result.Group
	total    *budget // the whole load's
	onResult func(Result)
}

// newClient returns an HTTP client with a pool of up to maxIdle idle
// connections; done closes those idle (call it when the client is done).
func (r *runner) newClient(maxIdle int) (c *http.Client, done func()) {
	dialer := &net.Dialer{Timeout: dialTimeout, Control: dialLoopbackOnly}
	tr := &http.Transport{
		Proxy:               nil, // never: the target is loopback
		DialContext:         dialer.DialContext,
		MaxIdleConns:        maxIdle,
		MaxIdleConnsPerHost: maxIdle,
		DisableKeepAlives:   !r.cfg.KeepAlive,
		DisableCompression:  true,
	}
	c = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c, tr.CloseIdleConnections
}

// closedLoop runs cfg.Concurrency clients, each sending its next request when
// the previous one has finished, until the requests are exhausted or the
// deadline passes.
func (r *runner) closedLoop(ctx context.Context, start time.Time) []*tally {
	limit := int64(r.cfg.Requests)
	if limit == 0 {
		limit = MaxRequests
	}
	deadline := start.Add(r.cfg.Duration)
	var issued atomic.Int64

	tallies := make([]*tally, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		t := &tally{}
		tallies[i] = t
		wg.Go(func() {
			c, done := r.newClient(1)
			defer done()
			for ctx.Err() == nil && time.Now().Before(deadline) && issued.Add(1) <= limit && r.total.take() {
				r.record(ctx, t, r.do(ctx, c, time.Now()))
				if r.cfg.Think > 0 && !think(ctx, r.cfg.Think, deadline) {
					break
				}
			}
		})
	}
	wg.Wait()
	return tallies
}

// think waits d between a client's requests (its connection stays open if
// kept alive), or until the deadline if that comes first: a client that
// thinks holds its connection to the end of the load, as a person reading
// a page would. It reports false if the run ends first.
func think(ctx context.Context, d time.Duration, deadline time.Time) bool {
	wait := min(d, time.Until(deadline))
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return wait == d
	case <-ctx.Done():
		return false
	}
}

// openLoop schedules request n at start + n/Rate and hands it to a pool of
// cfg.Concurrency senders. The schedule is computed, not accumulated, so it
// does not drift: a scheduler that falls behind (a busy pool, a late timer)
// sends at once, and the latency still counts from the scheduled time.
func (r *runner) openLoop(ctx context.Context, start time.Time) []*tally {
	limit := r.cfg.Requests
	if limit == 0 {
		limit = MaxRequests
	}
	deadline := start.Add(r.cfg.Duration)
	interval := float64(time.Second) / r.cfg.Rate
	due := func(n int) time.Time { return start.Add(time.Duration(float64(n) * interval)) }

	work := make(chan time.Time)
	tallies := make([]*tally, r.cfg.Concurrency+1) // the last one is the scheduler's
	c, closeIdle := r.newClient(r.cfg.Concurrency)
	defer closeIdle()
	var wg sync.WaitGroup
	for i := range r.cfg.Concurrency {
		t := &tally{}
		tallies[i] = t
		wg.Go(func() {
			defer closeIdle() // the schedule is over: so is this sender's connection
			for at := range work {
				r.record(ctx, t, r.do(ctx, c, at))
			}
		})
	}
	unsent := &tally{}
	tallies[len(tallies)-1] = unsent

	// Requests due before the deadline are sent even after it, but not later
	// than drainEnd.
	drainEnd := time.NewTimer(time.Until(deadline.Add(r.cfg.Timeout)))
	defer drainEnd.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()

schedule:
	for n := 0; n < limit; n++ {
		at := due(n)
		if !at.Before(deadline) || !r.total.take() {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		select {
		case work <- at:
		case <-ctx.Done():
			break schedule
		case <-drainEnd.C:
			for ; n < limit && due(n).Before(deadline); n++ {
				r.record(ctx, unsent, Result{Start: due(n), Group: r.group, Latency: time.Since(due(n)), Err: errNotSent})
			}
			break schedule
		}
	}
	close(work)
	wg.Wait()
	return tallies
}

// errNotSent marks an open-loop request that was due but never got a free
// slot before the run ended.
var errNotSent = errors.New("request was due but not sent: in-flight cap reached until the end of the run")

// do sends one request that was due at the given time with c and reads its
// body.
func (r *runner) do(ctx context.Context, c *http.Client, due time.Time) Result {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	res := Result{Start: due, Group: r.group}
	req, err := http.NewRequestWithContext(ctx, r.cfg.Method, r.cfg.URL, bodyReader(r.cfg.Body))
	if err != nil {
		res.Err = err
		return res
	}
	if r.cfg.Header != nil {
		req.Header = r.cfg.Header
	}
	if r.cfg.StampSent {
		req.Header = req.Header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set(experiment.SentHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	}
	resp, err := c.Do(req)
	if err != nil {
		res.Latency, res.Err = time.Since(due), err
		return res
	}
	res.Bytes, res.Err = copyDiscard(resp.Body)
	resp.Body.Close()
	res.Latency = time.Since(due)
	res.Status, res.Header = resp.StatusCode, resp.Header
	return res
}

// record hands res to OnResult and adds it to t, unless it failed only
// because the caller cancelled the run.
func (r *runner) record(ctx context.Context, t *tally, res Result) {
	if res.Err != nil && ctx.Err() != nil {
		return
	}
	if r.onResult != nil {
		r.onResult(res)
	}
	t.add(&res)
}

// bodyReader returns a fresh reader over body, or nil for no body. A
// *bytes.Reader lets net/http set Content-Length and replay the body on retry.
func bodyReader(body []byte) io.Reader {
	if len(body) == 0 {
		return nil
	}
	return bytes.NewReader(body)
}

// copyDiscard reads body to the end, as a browser would, and counts its bytes.
func copyDiscard(body io.Reader) (int64, error) {
	return io.Copy(io.Discard, body)
}
