package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/models"
	"github.com/mpmlab/mpmlab/runtime"
	"github.com/mpmlab/mpmlab/wasm/experiment"
	"github.com/mpmlab/mpmlab/wasm/stream"
)

// modelFlags registers the model and its knobs on fs: a flag for every row
// of experiment.KnobTable, with Apache's and nginx's names in its help.
type modelFlags struct {
	model string
	addr  string
	knobs experiment.Knobs
	// Flags whose type is not the knob's: Millis knobs take a duration,
	// Switch knobs a bool.
	durations map[*experiment.Knob]*time.Duration
	switches  map[*experiment.Knob]*bool
	optional  map[*experiment.Knob]*int

	// env is --env, repeated; files the handler's files, once built.
	env   stringList
	files []experiment.File
}

// modelSynopsis is the --model part of a command's synopsis, from
// experiment.ModelTable: "[--model process|thread|reactor|event]", with
// |all if all.
func modelSynopsis(all bool) string {
	names := experiment.ModelNames()
	if all {
		names = append(names, experiment.AllModels)
	}
	return "[--model " + strings.Join(names, "|") + "]"
}

// modelHelp lists the models for a command's help, from
// experiment.ModelTable: a model a paragraph, its name, the server it
// mirrors and what it runs, wrapped at 80 columns.
func modelHelp() string {
	var b strings.Builder
	width := 0
	for _, m := range experiment.ModelTable {
		width = max(width, len(m.Name))
	}
	indent := strings.Repeat(" ", 2+width+2)
	for _, m := range experiment.ModelTable {
		line := fmt.Sprintf("  %-*s  ", width, m.Name)
		for _, w := range strings.Fields(m.Mirrors + ": " + m.Help) {
			if len(line)+1+len(w) > 80 && len(line) > len(indent) {
				b.WriteString(strings.TrimRight(line, " ") + "\n")
				line = indent
			}
			if !strings.HasSuffix(line, " ") {
				line += " "
			}
			line += w
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func addModelFlags(fs *flag.FlagSet, allowAll bool) *modelFlags {
	m := &modelFlags{durations: map[*experiment.Knob]*time.Duration{}, switches: map[*experiment.Knob]*bool{}, optional: map[*experiment.Knob]*int{}}
	list := experiment.ModelList()
	if allowAll {
		list = experiment.ModelList(experiment.AllModels)
	}
	fs.StringVar(&m.model, "model", experiment.DefaultModel, "concurrency model: "+list)
	fs.StringVar(&m.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.Var(&m.env, "env", "set `NAME=value` in the handler's environment (os.Getenv); repeat for more")
	for i := range experiment.KnobTable {
		k := &experiment.KnobTable[i]
		help := k.FlagHelp()
		switch k.Unit {
		case experiment.Switch:
			m.switches[k] = fs.Bool(k.Flag, k.Default == 1, help)
		case experiment.Millis:
			m.durations[k] = fs.Duration(k.Flag, time.Duration(k.Default)*time.Millisecond, help)
		case experiment.Count:
			if k.Optional() {
				m.optional[k] = fs.Int(k.Flag, k.Default, help)
				continue
			}
			fallthrough
		default:
			def := k.Default
			if k.Derived() {
				def = 0
				help += "; 0: derived from the others"
			}
			if k.Unit == experiment.MiB {
				help += ", in MiB"
			}
			fs.IntVar(k.Int(&m.knobs), k.Flag, def, help)
		}
	}
	return m
}

// config returns the models.Config for one model, validated against the
// engine's ranges (the knobs named by their flags).
func (m *modelFlags) config(model models.Model, wasm string) (models.Config, error) {
	k := m.knobs
	for kb, d := range m.durations {
		if *d > 0 && *d < time.Millisecond {
			*d = time.Millisecond
		}
		*kb.Int(&k) = int(*d / time.Millisecond)
	}
	for kb, b := range m.switches {
		*kb.On(&k) = experiment.Bool(*b)
	}
	for kb, v := range m.optional {
		*kb.Opt(&k) = experiment.Int(*v)
	}
	if err := k.Normalize().ValidateFlags(); err != nil {
		return models.Config{}, usageError{err}
	}
	env, err := experiment.ParseEnv(m.env)
	if err != nil {
		return models.Config{}, usageError{fmt.Errorf("--env %w", err)}
	}
	cfg := models.FromKnobs(model, k)
	cfg.Addr, cfg.Wasm = m.addr, wasm
	cfg.Env, cfg.Files = experiment.EnvList(env), m.files
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func runCmd(args []string) error {
	fs := newFlags("run", modelSynopsis(false)+" [--addr HOST:PORT] [knobs] PATH", `
Build a handler and serve it under one concurrency model on a real port until
interrupted (Ctrl-C). Worker processes accept connections from one shared
socket, as Apache's children and nginx's workers do.

`+modelHelp()+`

A handler that is not in the compilation cache answers at once on wazero's
interpreter while its machine code compiles (a second or two); the workers are
then replaced gracefully, as in Apache's graceful restart, by workers running
machine code. The log says which engine serves; --compile-first waits instead,
as bench and the playground's runs do.

Every response carries X-Mpmlab-Worker naming the worker that served it
(", interpreter" after its pid while the interpreter serves).`)
	m := addModelFlags(fs, false)
	status := fs.String("status-addr", "", "serve a mod_status-style scoreboard at http://ADDR/server-status (e.g. 127.0.0.1:0)")
	quiet := fs.Bool("quiet", false, "do not print the guest's output and worker lifecycle")
	compileFirst := fs.Bool("compile-first", false, "compile the guest to machine code before serving, instead of serving on the interpreter meanwhile")
	trace := fs.String("trace", "", fmt.Sprintf("write every trace event (wasm/stream.Event, schema v%d) as a JSON line to `FILE` (- for stdout)", stream.SchemaVersion))
	pos, err := parse(fs, args, 1, "PATH: a .go file, a directory, a .txtar file or an example name")
	if err != nil {
		return err
	}
	raiseNoFile("run")
	model, err := models.ParseModel(m.model)
	if err != nil {
		return usageError{err}
	}
	if _, err := m.config(model, "x.wasm"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	art, src, err := buildSource(ctx, pos[0], runtime.TargetWASI, runtime.DefaultBuildTimeout, os.Stderr)
	if err != nil {
		return err
	}
	m.files = src.Files
	cfg, _ := m.config(model, art.Path)
	cfg.Logf = logf
	if *quiet {
		cfg.Logf = nil
	}
	cfg.Trace = *status != "" || *trace != ""
	cfg.ServeWhileCompiling = !*compileFirst
	if *trace != "" {
		w := os.Stdout
		if *trace != "-" {
			f, err := os.Create(*trace)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		tw := newTraceWriter(w)
		defer tw.close()
		cfg.OnEvent = tw.send
	}
	sup, err := models.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer sup.Close()
	if *status != "" {
		addr, err := serveStatus(sup, *status)
		if err != nil {
			return err
		}
		fmt.Printf("scoreboard on http://%s/server-status\n", addr)
	}
	fmt.Printf("listening on %s\n", sup.URL())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping workers...")
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// traceWriter writes trace events as JSON lines from a goroutine of its own,
// so that a slow file or pipe never stalls the supervisor, which calls
// OnEvent with its lock held. Past maxQueuedTrace events waiting, events are
// dropped and counted.
type traceWriter struct {
	ch      chan stream.Event
	done    chan struct{}
	dropped atomic.Int64
}

// maxQueuedTrace bounds the events waiting to be written.
const maxQueuedTrace = 1 << 16

func newTraceWriter(w io.Writer) *traceWriter {
	tw := &traceWriter{ch: make(chan stream.Event, maxQueuedTrace), done: make(chan struct{})}
	go func() {
		defer close(tw.done)
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		for e := range tw.ch {
			enc.Encode(e)
			if len(tw.ch) == 0 {
				bw.Flush() // nothing else waiting: let a reader see it now
			}
		}
		bw.Flush()
	}()
	return tw
}

func (tw *traceWriter) send(e stream.Event) {
	select {
	case tw.ch <- e:
	default:
		tw.dropped.Add(1)
	}
}

// close writes what is queued and says how many events were dropped.
func (tw *traceWriter) close() {
	close(tw.ch)
	<-tw.done
	if n := tw.dropped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "mpmlab run: --trace dropped %d events: its file could not keep up\n", n)
	}
}
