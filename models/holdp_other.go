//go:build !linux

package models

// pHolder keeps a worker's second P occupied on Linux (holdp_linux.go);
// elsewhere the scheduler has both.
type pHolder struct{}

func startPHolder() *pHolder { return nil }

func (h *pHolder) finished() {}
