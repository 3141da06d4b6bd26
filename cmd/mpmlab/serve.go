package main

import "errors"

// serveCmd is replaced by the playground's serve command.
func serveCmd(args []string) error {
	fs := newFlags("serve", "[--addr 127.0.0.1:8080] [--data DIR]", `Start the playground.`)
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	return errors.New("not yet")
}
