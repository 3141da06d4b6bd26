//go:build !linux

package models

// dropBinaryPages is implemented on Linux alone (binpages_linux.go).
func dropBinaryPages() error { return nil }
