// Command mpmlab is a playground for the three ways servers handle many
// connections at once: processes (Apache prefork), threads (Apache
// worker) and the reactor (nginx, node). It builds Go HTTP handlers to
// WebAssembly and runs them in wazero sandboxes inside real worker
// processes.
//
// Usage:
//
//	mpmlab serve [--addr 127.0.0.1:8080]          the playground in a browser tab
//	mpmlab run   [--model M] [knobs] PATH         serve one handler under one model
//	mpmlab bench [--model M|all] [load] PATH      load one model or all three, compare
//	mpmlab build [-o out.wasm] PATH               handler source to .wasm
//	mpmlab validate [--case NAME] [--json]         the models beside real Apache and nginx
//
// PATH is a .go file, a directory of .go files, a .txtar file, or the name
// of a bundled example (hello, sleep, blocking, cpu, counter, crash,
// runaway, memory).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

type command struct {
	name    string
	summary string
	run     func(args []string) error
	hidden  bool
}

var commands []command

func init() {
	commands = []command{
		{name: "serve", summary: "start the playground (the browser front end and its API)", run: serveCmd},
		{name: "run", summary: "serve one handler under one model on a real port", run: runCmd},
		{name: "bench", summary: "load a handler under one model or all three and compare", run: benchCmd},
		{name: "build", summary: "build a handler to WebAssembly and report compile errors", run: buildCmd},
		{name: "validate", summary: "measure the models beside the real Apache and nginx installed here", run: validateCmd},
		{name: "worker", summary: "a worker process (started by the supervisor)", run: workerCmd, hidden: true},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "mpmlab: see how processes, threads and an event loop serve the same Go handler.\n\nUsage:\n  mpmlab <command> [flags] [PATH]\n\nCommands:\n")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(os.Stderr, "\nRun 'mpmlab <command> --help' for a command's flags.\n")
}

// Exit statuses of mpmlab.
const (
	exitFailed = 1 // the command failed: a compile error, a port in use, ...
	exitUsage  = 2 // a mistake on the command line
	// exitWorkerSetup is a worker process that could not start (the
	// supervisor reports its cause); models' own exit codes for workers
	// follow it.
	exitWorkerSetup = 5
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(exitUsage)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(os.Args[2:])
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			if err != nil {
				var ue usageError
				if errors.As(err, &ue) {
					fmt.Fprintf(os.Stderr, "mpmlab %s: %v\n", name, err)
					os.Exit(exitUsage)
				}
				fmt.Fprintf(os.Stderr, "mpmlab %s: %v\n", name, err)
				os.Exit(exitFailed)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "mpmlab: unknown command %q (want serve, run, bench, build or validate; see mpmlab --help)\n", name)
	os.Exit(exitUsage)
}

// usageError is a mistake on the command line (exit status exitUsage).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// newFlags returns a FlagSet whose errors come back to the caller instead
// of exiting, with a usage text of synopsis + description + flags.
func newFlags(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: mpmlab %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and returns the positional arguments; it wants exactly
// n of them.
func parse(fs *flag.FlagSet, args []string, n int, what string) ([]string, error) {
	usage := fs.Usage
	fs.Usage = func() {} // a mistake gets one line, not the whole usage
	fs.SetOutput(discard{})
	err := fs.Parse(interleave(fs, args))
	fs.SetOutput(os.Stderr)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return nil, err
	}
	if err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() != n {
		if fs.NArg() < n {
			return nil, usagef("missing %s (see mpmlab %s --help)", what, fs.Name())
		}
		return nil, usagef("unexpected argument %q", fs.Arg(n))
	}
	return fs.Args(), nil
}

// interleave moves positional arguments after the flags, so that
// "mpmlab run hello --model thread" works as well as the flag-first form.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return append(flags, pos...)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func workerCmd(args []string) error {
	err := models.RunWorker() // returns only if the worker could not start
	fmt.Fprintf(os.Stderr, "mpmlab worker: %v\n", err)
	os.Exit(exitWorkerSetup)
	return nil
}

// noFileMargin is the file descriptors a host keeps beside its clients'
// connections: its workers' pipes, logs, the cache.
const noFileMargin = 256

// raiseNoFile raises this process's file limit so that a load of
// experiment.MaxClients clients can hold its connections
// (models.RaiseNoFile); the workers it starts inherit the limit, for
// their ends. Where the machine allows fewer it says so on stderr, once:
// past that, connections fail to open ("too many open files").
func raiseNoFile(cmd string) {
	if n, limit := models.RaiseNoFile(experiment.MaxClients, noFileMargin); n < experiment.MaxClients {
		fmt.Fprintf(os.Stderr, "mpmlab %s: this process may open %d files (RLIMIT_NOFILE): loads of more than %d clients will fail to connect\n", cmd, limit, n)
	}
}
