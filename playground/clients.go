package playground

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Per-client limits of a Public server (a classroom host): what one client
// address may ask of it, on top of the server's own caps (maxRuns,
// maxTries, maxBuilds).
const (
	// clientBurst is how many costly requests (see costly) a client may
	// send in a row.
	clientBurst = 20
	// clientRefill is how often it may then send one more: 20 a minute.
	clientRefill = 3 * time.Second
	// clientInFlight caps a client's costly requests in flight (builds,
	// tries: each holds a build slot or workers while it runs).
	clientInFlight = 2
	// maxClients is how many client addresses are tracked before the idle
	// ones are forgotten.
	maxClients = 4096
)

// ClientLimits describes the per-client limits of a Public server, for the
// warning `mpmlab serve --public` prints.
func ClientLimits() string {
	return fmt.Sprintf("per client address: one running experiment, %d requests in flight, %d requests a minute (bursts of %d)",
		clientInFlight, int(time.Minute/clientRefill), clientBurst)
}

// clientTabPrefix starts the run registry's tab of a Public server's
// client: there, one experiment runs per client address, since the tab
// header (one per tab) is the client's to choose and its address is not.
const clientTabPrefix = "client "

// runTab returns the key under which r's run is registered: its tab
// header, or on a Public server its client's address.
func (s *Server) runTab(r *http.Request) string {
	if s.cfg.Public {
		return clientTabPrefix + clientKey(r)
	}
	return r.Header.Get(tabHeader)
}

// clients enforces the per-client limits: a token bucket and an in-flight
// count per client address (see clientKey). The nil *clients (a server
// that is not Public) limits nothing.
type clients struct {
	now func() time.Time // time.Now; tests set it

	mu sync.Mutex
	m  map[string]*client
}

// client is one address's bucket: tokens as of at, and requests in flight.
type client struct {
	tokens   float64
	at       time.Time
	inFlight int
}

func newClients() *clients { return &clients{now: time.Now, m: map[string]*client{}} }

// enter admits a request of r's client or answers it 429; the caller calls
// done once the request is served.
func (c *clients) enter(w http.ResponseWriter, r *http.Request) (done func(), ok bool) {
	if c == nil || !costly(r) {
		return func() {}, true
	}
	key := clientKey(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	cl := c.m[key]
	if cl == nil {
		if len(c.m) >= maxClients {
			c.forgetIdle(now)
		}
		cl = &client{tokens: clientBurst, at: now}
		c.m[key] = cl
	}
	cl.refill(now)
	if cl.inFlight >= clientInFlight {
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%d requests of %s are in flight (the limit is %d per client on this shared host): wait for one to end", cl.inFlight, key, clientInFlight))
		return nil, false
	}
	if cl.tokens < 1 {
		wait := time.Duration((1 - cl.tokens) * float64(clientRefill))
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests from %s (the limit is %d a minute per client on this shared host): try again in %d s", key, int(time.Minute/clientRefill), secs))
		return nil, false
	}
	cl.tokens--
	cl.inFlight++
	return func() {
		c.mu.Lock()
		cl.inFlight--
		c.mu.Unlock()
	}, true
}

func (cl *client) refill(now time.Time) {
	if d := now.Sub(cl.at); d > 0 {
		cl.tokens = min(clientBurst, cl.tokens+float64(d)/float64(clientRefill))
	}
	cl.at = now
}

// forgetIdle drops the clients with nothing in flight and a full bucket:
// forgetting them changes nothing.
func (c *clients) forgetIdle(now time.Time) {
	for k, cl := range c.m {
		if cl.refill(now); cl.inFlight == 0 && cl.tokens >= clientBurst {
			delete(c.m, k)
		}
	}
}

// costly reports whether a request counts against its client's limits:
// any that may change state, but a run's stop, which frees a place.
func costly(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !(strings.HasPrefix(r.URL.Path, "/api/runs/") && strings.HasSuffix(r.URL.Path, "/stop"))
}

// clientKey names the client of r by its address (the connection's, not a
// header's: X-Forwarded-For is the client's to write). IPv6 clients are
// keyed by their /64, which one host may fill with addresses.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}
