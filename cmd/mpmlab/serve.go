package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/playground"
)

func serveCmd(args []string) error {
	fs := newFlags("serve", "[--addr 127.0.0.1:8080] [--data DIR] [--allow-host NAME] [--allow-origin ORIGIN] [--share-service URL] [--public]", `
Start the playground: the browser front end and its JSON API (see
playground/API.md). Edit a handler, run it under one model or all three with
a live view, and share a link to the experiment.

Shares are kept in DIR/shares.db, which survives restarts. The default DIR is
$MPMLAB_DATA, else the user config directory's mpmlab/ (e.g.
~/.config/mpmlab). Prints "playground on http://HOST:PORT" once listening;
port 0 picks a free port. With --share-service URL, Share publishes to that
share service (cmd/mpmlab-share) instead, sent by this host, so the links
open anywhere.

The playground runs code on this machine, so it answers only its own page:
a request whose Host is not a loopback name, the --addr host or an
--allow-host name gets 403 (against DNS rebinding), and one that changes
state from another page (its Origin neither the playground's nor an
--allow-origin) gets 403. Listening beyond loopback takes --public: anyone
who can reach the port can then run code in the sandbox and load the
machine, within per-client limits.`)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port); beyond loopback it needs --public")
	data := fs.String("data", "", "directory of the share store (default $MPMLAB_DATA, else the user config dir's mpmlab/)")
	quiet := fs.Bool("quiet", false, "do not log runs and worker lifecycles")
	var hosts, origins listFlag
	fs.Var(&hosts, "allow-host", "a further `name` this server answers to in the Host header, e.g. mybox.lan (.example.org: it and its subdomains); repeatable or comma-separated")
	fs.Var(&origins, "allow-origin", "the `origin` of a page served elsewhere that may call the API, e.g. https://share.example (CORS); repeatable or comma-separated")
	shareService := fs.String("share-service", "", "publish shares to this share service (cmd/mpmlab-share), e.g. https://mpmlab-share.example.workers.dev, so links open anywhere (default: this host's own store)")
	public := fs.Bool("public", false, "allow an --addr beyond loopback (e.g. 0.0.0.0:8080, a classroom host), with per-client limits")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	raiseNoFile("serve")
	beyond := !isLoopback(*addr)
	if beyond && !*public {
		return usagef("--addr %s listens beyond loopback, where anyone who can reach it could run code on this machine: add --public to allow that (with per-client limits), or listen on 127.0.0.1", *addr)
	}
	dir, err := dataDir(*data)
	if err != nil {
		return err
	}
	cfg := playground.Config{DataDir: dir, Logf: logf, Addr: *addr, AllowedHosts: hosts, AllowedOrigins: origins, Public: *public, ShareService: *shareService}
	if *quiet {
		cfg.Logf = nil
	}
	pg, err := playground.New(cfg)
	if err != nil {
		return usageError{err}
	}
	defer pg.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %s: %v", *addr, err)}
	}
	srv := &http.Server{
		Handler:           pg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if beyond {
		fmt.Fprintf(os.Stderr, "mpmlab serve: warning: --public: listening on %s, beyond loopback: anyone who can reach this port can run code in the sandbox and load this machine; limits %s\n", ln.Addr(), playground.ClientLimits())
	}
	fmt.Printf("playground on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(os.Stderr, "stopping runs and workers...")
	// Stop the runs and tries first (their event streams and answers then
	// end, so Shutdown does not wait on them), then drain the other
	// requests (a share in flight still finds the store open), then close
	// the store.
	pg.Stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	serr := <-served
	if err := pg.Close(); err != nil {
		return err
	}
	if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return nil
}

// dataDir picks the share store's directory: --data, else $MPMLAB_DATA,
// else the user config directory's mpmlab/.
func dataDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv("MPMLAB_DATA"); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", usagef("no --data directory and no user config directory (%v): pass --data DIR", err)
	}
	return filepath.Join(cfg, "mpmlab"), nil
}

// isLoopback reports whether a listen address is on loopback only: its host
// is localhost or resolves to loopback addresses. An empty or unspecified
// host (":8080", "0.0.0.0:8080") listens on every address, so is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false // net.Listen says what is wrong with it
	}
	if host == "localhost" {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// listFlag is a flag that may be repeated, each time with one value or
// several separated by commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
