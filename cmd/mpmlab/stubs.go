package main

import (
	"errors"

	"github.com/mpmlab/mpmlab/models"
)

func serveCmd(args []string) error { return errors.New("not yet") }
func benchCmd(args []string) error { return errors.New("not yet") }
func serveStatus(s *models.Supervisor, addr string) (string, error) {
	return "", errors.New("not yet")
}
