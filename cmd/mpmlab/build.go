package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

func buildCmd(args []string) error {
	fs := newFlags("build", "[-o out.wasm] [--target wasip1|js] PATH", `
Build a handler to WebAssembly with the Go toolchain on this machine, offline.
PATH is a .go file, a directory of .go files, a .txtar file (-- name.go --
sections) or a bundled example's name. Compile errors are printed as
file:line:col: message, and the exit status is 1.`)
	out := fs.String("o", "", "write the .wasm here (default: print the cached file's path)")
	target := fs.String("target", "wasip1", "wasip1 (the host sandbox) or js (the browser)")
	timeout := fs.Duration("timeout", runtime.DefaultBuildTimeout, "give up on a build after this long")
	pos, err := parse(fs, args, 1, "PATH: a .go file, a directory, a .txtar file or an example name")
	if err != nil {
		return err
	}
	if *target != string(runtime.TargetWASI) && *target != string(runtime.TargetJS) {
		return usagef("unknown --target %q (want wasip1 or js)", *target)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	art, err := buildHandler(ctx, pos[0], runtime.Target(*target), *timeout, os.Stderr)
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Println(art.Path)
		return nil
	}
	return copyFile(art.Path, *out)
}

// loadHandler loads PATH, or a bundled example when PATH names one and no
// such file exists.
func loadHandler(path string) (experiment.Source, error) {
	if _, err := os.Stat(path); err != nil && !strings.ContainsAny(path, "/.") {
		if src, exErr := runtime.ExampleSource(path); exErr == nil {
			return src, nil
		}
	}
	return runtime.LoadSource(path)
}

// buildHandler loads and builds PATH, printing progress to log.
func buildHandler(ctx context.Context, path string, target runtime.Target, timeout time.Duration, log io.Writer) (*runtime.Artifact, error) {
	art, _, err := buildSource(ctx, path, target, timeout, log)
	return art, err
}

// buildSource is buildHandler, also returning the source it built (whose
// data files the workers serve: models.Config.Files).
func buildSource(ctx context.Context, path string, target runtime.Target, timeout time.Duration, log io.Writer) (*runtime.Artifact, experiment.Source, error) {
	src, err := loadHandler(path)
	if err != nil {
		return nil, src, usageError{err}
	}
	b := &runtime.Builder{Timeout: timeout, Progress: func(msg string) { fmt.Fprintf(log, "build: %s\n", msg) }}
	art, err := b.Build(ctx, src, target)
	var be *runtime.BuildError
	if errors.As(err, &be) && be.NoServe {
		return nil, src, fmt.Errorf("%s cannot serve requests:\n%v", path, be)
	}
	if errors.As(err, &be) {
		return nil, src, fmt.Errorf("%s does not compile:\n%v", path, be)
	}
	return art, src, err
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
