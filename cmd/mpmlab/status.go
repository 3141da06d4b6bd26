package main

import (
	"net"
	"net/http"

	"github.com/mpmlab/mpmlab/models"
)

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serveStatus serves the supervisor's mod_status page on addr and returns
// the address it listens on.
func serveStatus(s *models.Supervisor, addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	go http.Serve(l, s.StatusHandler())
	return l.Addr().String(), nil
}
