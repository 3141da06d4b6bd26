package main

import (
	"errors"

	"github.com/mpmlab/mpmlab/models"
)

func benchCmd(args []string) error { return errors.New("not yet") }
func serveStatus(s *models.Supervisor, addr string) (string, error) {
	return "", errors.New("not yet")
}
