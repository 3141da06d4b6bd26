package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/playground"
)

func serveCmd(args []string) error {
	fs := newFlags("serve", "[--addr 127.0.0.1:8080] [--data DIR]", `
Start the playground: the browser front end and its JSON API (see
playground/API.md). Edit a handler, run it under one model or all three with
a live view, and share a link to the experiment.

Shares are kept in DIR/shares.db, which survives restarts. The default DIR is
$MPMLAB_DATA, else the user config directory's mpmlab/ (e.g.
~/.config/mpmlab). Prints "playground on http://HOST:PORT" once listening;
port 0 picks a free port.`)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	data := fs.String("data", "", "directory of the share store (default $MPMLAB_DATA, else the user config dir's mpmlab/)")
	quiet := fs.Bool("quiet", false, "do not log runs and worker lifecycles")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	dir, err := dataDir(*data)
	if err != nil {
		return err
	}
	cfg := playground.Config{DataDir: dir, Logf: logf}
	if *quiet {
		cfg.Logf = nil
	}
	pg, err := playground.New(cfg)
	if err != nil {
		return err
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
