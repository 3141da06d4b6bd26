package playground

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
type access struct {
	names []string        // allowed host names, lower case; ".x" matches x and its subdomains
	ips   map[string]bool // allowed IP addresses (netip.Addr.String())
	anyIP bool            // Addr's host is unspecified: every IP address
}

// newAccess checks and normalizes the Config's allowed hosts.
func newAccess(cfg Config) (*access, error) {
	a := &access{ips: map[string]bool{}}
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
	return a, nil
}

// admit answers the requests that may not be served (403); it reports
// whether r is to be served.
func (a *access) admit(w http.ResponseWriter, r *http.Request) bool {
	if name := hostName(r.Host); !a.hostAllowed(name) {
		if name == "" {
			name = r.Host
		}
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not this server's name (it may be a DNS rebinding attack); to serve it, start mpmlab serve with --allow-host %s", r.Host, name))
		return false
	}
	return true
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
