package playground

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// access decides which requests the playground answers at all. A
// playground on a person's machine runs code on it, and every web page
// they visit can send it requests; so, as careful local servers do
// (Jupyter, Vite's dev server):
//
//   - Host: a request must name this server: a loopback name (localhost,
//     *.localhost, 127.0.0.0/8, ::1), the host of Config.Addr, or one of
//     Config.AllowedHosts; anything else is 403. A page of evil.example
//     whose name is made to resolve to 127.0.0.1 (DNS rebinding) still
//     sends Host: evil.example. When Addr's host is unspecified (0.0.0.0,
//     ::) every IP address is allowed as well: the server answers on all
//     of them, and an address cannot be rebound (Vite's rule).
//   - Origin: a request that may change state (any method but GET, HEAD
//     and OPTIONS) from a browser carries an Origin; it must be the page's
//     own (the scheme and Host it was sent to) or one of
//     Config.AllowedOrigins, else 403. A cross-origin "simple" request
//     (a form post, fetch with text/plain) is not preflighted by the
//     browser, so this check is what refuses it. A request without Origin
//     is not from a browser page (curl, the CLI) and passes.
//   - CORS: answers to an allowed origin carry Access-Control-Allow-Origin
//     for exactly that origin, and its preflights (OPTIONS with
//     Access-Control-Request-Method) are answered, including Private
//     Network Access (Access-Control-Request-Private-Network: true, sent
//     by Chrome when a public page calls a private or local address).
//
// Reads (GET) need no Origin check: the browser does not let a foreign
// page read the answer unless it carries Access-Control-Allow-Origin, and
// a GET changes nothing. JSON bodies must be application/json (decode, 415),
// which a foreign page can send only after a preflight.
type access struct {
	names   []string        // allowed host names, lower case; ".x" matches x and its subdomains
	ips     map[string]bool // allowed IP addresses (netip.Addr.String())
	anyIP   bool            // Addr's host is unspecified: every IP address
	origins map[string]bool // allowed origins, normalized (normalizeOrigin)
}

// CORS answers for allowed origins.
const (
	corsMethods = "GET, HEAD, POST"
	corsHeaders = "Content-Type, " + tabHeader
	corsMaxAge  = "600" // seconds a browser may cache a preflight
)

// newAccess checks and normalizes the Config's allowed hosts and origins.
func newAccess(cfg Config) (*access, error) {
	a := &access{ips: map[string]bool{}, origins: map[string]bool{}}
	add := func(h string) {
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Unmap().IsUnspecified() {
				a.anyIP = true
			} else {
				a.ips[ip.Unmap().String()] = true
			}
			return
		}
		a.names = append(a.names, h)
	}
	if cfg.Addr != "" {
		h, _, err := net.SplitHostPort(cfg.Addr)
		switch {
		case err != nil:
			return nil, fmt.Errorf("playground: address %q: %v", cfg.Addr, err)
		case h == "":
			a.anyIP = true // ":8080" listens on every address
		default:
			add(strings.TrimSuffix(strings.ToLower(h), "."))
		}
	}
	for _, h := range cfg.AllowedHosts {
		n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		switch {
		case strings.Contains(n, "://") || strings.Contains(n, "/"):
			return nil, fmt.Errorf("playground: allowed host %q: want a host name such as mybox.lan (an origin such as https://x goes in the allowed origins)", h)
		case n == "" || n == ".":
			return nil, fmt.Errorf("playground: allowed host %q: empty", h)
		case strings.HasPrefix(n, "[") && !strings.HasSuffix(n, "]"), !strings.HasPrefix(n, "[") && hostName(n) != n:
			return nil, fmt.Errorf("playground: allowed host %q: want a host name without a port (every port of it is allowed)", h)
		}
		add(strings.Trim(n, "[]"))
	}
	for _, o := range cfg.AllowedOrigins {
		n, ok := normalizeOrigin(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		if !ok {
			return nil, fmt.Errorf("playground: allowed origin %q: want scheme://host[:port], e.g. https://share.example", o)
		}
		a.origins[n] = true
	}
	return a, nil
}

// admit answers the requests that may not be served (403), and preflights
// (204 or 403); it reports whether r is to be served. On the way it sets
// the CORS headers of an allowed origin's answer.
func (a *access) admit(w http.ResponseWriter, r *http.Request) bool {
	if name := hostName(r.Host); !a.hostAllowed(name) {
		if name == "" {
			name = r.Host
		}
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not this server's name (it may be a DNS rebinding attack); to serve it, start mpmlab serve with --allow-host %s", r.Host, name))
		return false
	}
	if len(a.origins) > 0 {
		w.Header().Add("Vary", "Origin") // the answer depends on it
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	own := isOwnOrigin(origin, r.Host)
	allowed := own
	if n, ok := normalizeOrigin(origin); ok && a.origins[n] {
		allowed = true
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		a.preflight(w, r, allowed)
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if !allowed {
		writeError(w, http.StatusForbidden, fmt.Sprintf("origin %s may not call this host (the page's own origin is http://%s); to allow it, start mpmlab serve with --allow-origin %s", origin, r.Host, origin))
		return false
	}
	return true
}

// preflight answers a CORS preflight: 204 with what an allowed origin may
// send, or 403.
func (a *access) preflight(w http.ResponseWriter, r *http.Request, allowed bool) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network")
	origin := r.Header.Get("Origin")
	if !allowed {
		writeError(w, http.StatusForbidden, fmt.Sprintf("origin %s may not call this host; to allow it, start mpmlab serve with --allow-origin %s", origin, origin))
		return
	}
	switch method := r.Header.Get("Access-Control-Request-Method"); method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		h.Del("Access-Control-Allow-Origin")
		writeError(w, http.StatusForbidden, fmt.Sprintf("method %q: the API takes %s", method, corsMethods))
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// hostAllowed reports whether host (as hostName returns it) is this
// server's name.
func (a *access) hostAllowed(host string) bool {
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: always loopback, and browsers resolve it so
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		return ip.IsLoopback() || a.anyIP || a.ips[ip.String()]
	}
	for _, n := range a.names {
		if host == n || strings.HasPrefix(n, ".") && (host == n[1:] || strings.HasSuffix(host, n)) {
			return true
		}
	}
	return false
}

// hostName returns the host of a Host header or listen address, without
// its port or IPv6 brackets, in lower case and without a trailing dot; ""
// if it is malformed ("[::1]x", a port that is not a number).
func hostName(hostport string) string {
	h, port := hostport, ""
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return ""
		}
		h, port = h[1:i], h[i+1:]
		if port != "" && port[0] != ':' {
			return ""
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h, port = h[:i], h[i:]
	}
	if strings.Trim(strings.TrimPrefix(port, ":"), "0123456789") != "" {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// normalizeOrigin returns an http or https origin as scheme://host[:port],
// in lower case, without a default port; ok is false for anything else
// ("null", a path, user info).
func normalizeOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + stripDefaultPort(scheme, strings.ToLower(u.Host)), true
}

// isOwnOrigin reports whether origin is that of a page served by this
// server under host (the request's Host): the same host and port, over
// http or https (a TLS proxy in front).
func isOwnOrigin(origin, host string) bool {
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	scheme, h, _ := strings.Cut(n, "://")
	return h == stripDefaultPort(scheme, strings.ToLower(host))
}

func stripDefaultPort(scheme, hostport string) string {
	if scheme == "http" {
		return strings.TrimSuffix(hostport, ":80")
	}
	return strings.TrimSuffix(hostport, ":443")
}
