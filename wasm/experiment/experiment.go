// Package experiment is the playground's experiment: a handler's source, a
// concurrency model with its knobs, and a load profile. It is what a share
// link restores, and it is shared by the host (package playground) and the
// browser front end (wasm/app, GOOS=js), so it depends on the standard
// library only.
//
// An experiment has one canonical JSON form (see Canonical), from which come
// its share id (ShareID: the same experiment always gives the same id) and
// its fragment link (EncodeFragment, DecodeFragment):
//
//	e := experiment.Experiment{
//		Source: experiment.Source{Files: []experiment.File{{Name: "main.go", Data: code}}},
//		Model:  "reactor",
//		Load:   experiment.Load{Path: "/?ms=300", Concurrency: 10, Requests: 200},
//	}
//	if err := e.Validate(); err != nil {
//		return err // e.g. "load.concurrency 500 out of range 1..200"
//	}
//	link := "/#x=" + e.EncodeFragment()
//	id := e.ShareID() // e.g. "AbCdEfGhIjK"
//
// # Notes
//
//   - Zero (or absent) knobs and load fields mean their defaults; Normalize
//     fills them in. Two experiments that differ only by a default written
//     out or left zero are the same experiment: same canonical form, same id.
//   - The booleans (Knobs.KeepAlive, Load.KeepAlive) are pointers so that
//     absent (nil: default true) differs from false. Use Bool to set them.
//     Knobs.MaxKeepAliveRequests is one too, so that 0 can mean what it
//     means to Apache and to the CLI: unlimited (nil is the default, 100;
//     set it with Int). Its old spelling of unlimited, -1, is still read.
//   - Knobs.MinSpare -1 keeps no spare processes (0 is the default, 2).
//   - Decoding is strict: an unknown field is an error naming it.
package experiment

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Limits of an experiment. Validate enforces them.
const (
	// MaxConcurrency caps the clients that may send as fast as they are
	// answered: a closed loop's (rate 0) without think_ms, summed over
	// the load's groups. It is also the most clients the tab's own models
	// take (they serve on the page's threads).
	MaxConcurrency = 200
	// MaxClients caps Load.Concurrency, summed over the load's groups:
	// each client holds a connection, which costs the host a file
	// descriptor and the server one (models.RaiseNoFile raises the
	// limit). Past MaxConcurrency the clients must bound the rate they
	// send (rateBound): an open loop's rate, or a closed loop's think_ms,
	// so that ten thousand clients holding long-lived connections (Server-
	// Sent Events, long polls, idle keep-alive) are a story of
	// connections, not of a flood of requests.
	MaxClients = 10000
	// MaxRequests caps Load.Requests.
	MaxRequests = 20000
	// MaxDurationMS caps Load.DurationMS and the load on each model: each
	// model's load is cut at 60 s, so a single-model experiment takes at
	// most about 60 s plus its build, and Compare ("all": four models one
	// after another) about 4 × 60 s plus its build and each model's start
	// and stop.
	MaxDurationMS = 60000
	// MaxRate caps Load.Rate (requests per second, open loop).
	MaxRate = 5000
	// MaxThinkMS caps Load.ThinkMS.
	MaxThinkMS = 10000
	// MaxPathLength caps Load.Path.
	MaxPathLength = 2048
	// MaxGroups caps Load.Groups.
	MaxGroups = 8
	// MaxGroupName caps Group.Name, in bytes.
	MaxGroupName = 64
	// MaxHeaders caps Load.Headers; MaxBodyBytes caps Load.Body.
	MaxHeaders   = 32
	MaxBodyBytes = 64 << 10
	// maxFragmentJSON caps the decompressed size of a fragment, so that a
	// crafted link cannot inflate into gigabytes.
	maxFragmentJSON = 1 << 20
)

// Knob limits, as models.Config.Validate (the host checks that they agree).
const (
	MaxProcesses       = 64
	MaxThreadsPerChild = 64
	MaxAsyncFactor     = 64
	MaxLoops           = 16
	MaxConnections     = 10000
	MaxBacklog         = 4096
	MaxTimeoutMS       = 300000
	// MaxLimitRequestBody caps Knobs.LimitRequestBody as Apache caps
	// LimitRequestBody (2 GiB - 1). A body streams into its guest as the
	// handler reads it, so the limit costs no memory.
	MaxLimitRequestBody = 1<<31 - 1
	MaxKeepAliveMS      = 60000
	MinMemoryMB         = 16
	// MaxThreadPoolThreads caps Knobs.ThreadPoolThreads, the threads of
	// each worker process's pool (libuv caps UV_THREADPOOL_SIZE at 1024).
	MaxThreadPoolThreads = 256
	// MaxThreadPoolMaxQueue caps Knobs.ThreadPoolMaxQueue.
	MaxThreadPoolMaxQueue = 1 << 20
)

// Limits of the playground that are stricter than the CLI's (mpmlab run
// allows 64 × 64 threads and 4096 MiB per instance): a page must not be able
// to exhaust the machine.
const (
	// MaxInstances caps the guest instances one model starts: process
	// max_request_workers, thread processes × threads_per_child, reactor
	// loops.
	MaxInstances = 128
	// MaxMemoryMB caps Knobs.MemoryLimitMB, each instance's memory.
	MaxMemoryMB = 1024
	// PageMaxThreadPoolThreads caps Knobs.ThreadPoolThreads.
	PageMaxThreadPoolThreads = 64
)

// Defaults of zero fields.
const (
	DefaultModel             = "reactor"
	DefaultStartServers      = 4
	DefaultMinSpare          = 2
	DefaultMaxSpare          = 6
	DefaultMaxRequestWorkers = 8
	DefaultProcesses         = 1
	DefaultThreadsPerChild   = 4
	DefaultAsyncFactor       = 2
	DefaultLoops             = 1
	DefaultConnections       = 512
	DefaultBacklog           = 511
	DefaultKeepAliveMS       = 5000
	DefaultMaxKeepAlive      = 100
	DefaultTimeoutMS         = 10000
	DefaultLimitRequestBody  = 1 << 30 // Apache's default since 2.4.54
	DefaultMemoryMB          = 256
	DefaultPath              = "/"
	DefaultMethod            = "GET"
	DefaultConcurrency       = 10
	DefaultRequests          = 200 // when neither Requests nor DurationMS is set
)

// Defaults of the thread pool's knobs.
const (
	// DefaultThreadPoolThreads is libuv's UV_THREADPOOL_SIZE (4), not
	// nginx's 32: the pool runs a handler's CPU work and blocking calls,
	// as node's does (nginx's threads mostly wait for the disk), and four
	// shows the fifth task waiting on a laptop's few cores.
	DefaultThreadPoolThreads = 4
	// DefaultThreadPoolMaxQueue is nginx's max_queue (libuv's queue has no
	// bound).
	DefaultThreadPoolMaxQueue = 65536
)

// Experiment is everything a share link restores.
type Experiment struct {
	Source Source `json:"source"`
	// Env is the handler's environment (os.Getenv), by name; see
	// ValidateEnv. Absent when empty, so older share ids stay the same.
	Env map[string]string `json:"env,omitempty"`
	// Model is a ModelTable name or AllModels (default reactor).
	Model string `json:"model"`
	Knobs Knobs  `json:"knobs"`
	Load  Load   `json:"load"`
	// Variants, if any, are what Compare (model "all") runs in place of
	// the four models: the same handler and load under each variant's
	// model, knobs and paths ("thread", "reactor + pool", "reactor × 2
	// loops"), one row each.
	Variants []Variant `json:"variants,omitempty"`

	// Browser is how "Run in browser" runs the handler (nil: the page's
	// defaults).
	Browser *Browser `json:"browser,omitempty"`
	// Recording names the recorded run a share carries: the blob id of
	// its compressed event stream (wasm/experiment/record), "" for none.
	Recording string `json:"recording,omitempty"`
	// BrowserBuild names the handler's browser build (GOOS=js) a share
	// carries: the blob id of its wasm module, "" for none.
	BrowserBuild string `json:"browser_build,omitempty"`
}

// Variant is one run of a Compare over variants: a model, the knobs it
// sets over the experiment's, and the paths it gives groups of the load in
// place of theirs (a remedy may be a route: /?ms=200&pool=1), under a
// name.
type Variant struct {
	// Name labels the variant's row and sentences (default: its model).
	Name string `json:"name"`
	// Model is "process", "thread", "reactor" or "event".
	Model string `json:"model"`
	// Knobs are the knobs the variant sets, as in Experiment.Knobs
	// ({"loops": 2}); the others are the experiment's.
	Knobs json.RawMessage `json:"knobs,omitempty"`
	// Paths give load groups, by name, a path of their own under this
	// variant ({"slow": "/?ms=200&pool=1"}).
	Paths map[string]string `json:"paths,omitempty"`
}

// MaxVariants caps Experiment.Variants.
const MaxVariants = 8

// Apply returns the experiment e runs as under variant v: v's model, e's
// knobs with v's over them, and v's paths for the groups it names. It
// does not validate the result.
func (e Experiment) Apply(v Variant) (Experiment, error) {
	out := e
	out.Variants = nil
	out.Model = v.Model
	if len(v.Knobs) > 0 {
		k := e.Knobs
		if err := DecodeJSON(bytes.NewReader(v.Knobs), &k); err != nil {
			return Experiment{}, fmt.Errorf("knobs: %v", err)
		}
		out.Knobs = k
	}
	if len(v.Paths) == 0 {
		return out, nil
	}
	l := e.Load.Normalize()
	groups := slices.Clone(l.Traffic())
	for name, path := range v.Paths {
		i := slices.IndexFunc(groups, func(g Group) bool { return g.Name == name })
		if i < 0 {
			return Experiment{}, fmt.Errorf("paths: the load has no group %q", name)
		}
		groups[i].Path = path
	}
	if len(l.Groups) == 0 {
		l.Path = groups[0].Path
	} else {
		l.Groups = groups
	}
	out.Load = l
	return out, nil
}

// Browser is the page's "Run in browser" settings.
type Browser struct {
	// Model is one of BrowserModels (default DefaultBrowserModel).
	Model string `json:"model"`
	// Workers is the worker pool's size, 1..MaxBrowserWorkers (default
	// DefaultBrowserWorkers).
	Workers int `json:"workers"`
}

// BrowserModels are the values of Browser.Model (www/handlers.js).
var BrowserModels = []string{"instance-per-request", "worker-pool", "page-loop"}

// Browser defaults and limits.
const (
	DefaultBrowserModel   = "worker-pool"
	DefaultBrowserWorkers = 2
	MaxBrowserWorkers     = 8
)

// BlobRef is a blob an experiment names, with its JSON field.
type BlobRef struct{ Field, ID string }

// Blobs returns the blobs e names (its recording, its browser build).
func (e Experiment) Blobs() []BlobRef {
	var refs []BlobRef
	if e.Recording != "" {
		refs = append(refs, BlobRef{"recording", e.Recording})
	}
	if e.BrowserBuild != "" {
		refs = append(refs, BlobRef{"browser_build", e.BrowserBuild})
	}
	return refs
}

// IsBlobID reports whether s has the form of a blob id: the unpadded
// base64url of a SHA-256 (43 characters).
func IsBlobID(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// Knobs are the model's directives, named as the CLI's flags in snake_case;
// each is defined once, with its range, default and help, in KnobTable.
// Zero means the default noted.
type Knobs struct {
	StartServers      int `json:"start_servers"`       // process: StartServers (4)
	MinSpare          int `json:"min_spare"`           // process: MinSpareServers (2; -1 none)
	MaxSpare          int `json:"max_spare"`           // process: MaxSpareServers (6)
	MaxRequestWorkers int `json:"max_request_workers"` // process: MaxRequestWorkers (8)
	Processes         int `json:"processes"`           // thread, event: worker processes (1)
	ThreadsPerChild   int `json:"threads_per_child"`   // thread, event: ThreadsPerChild (4)
	// event: AsyncRequestWorkerFactor (2): a process accepts while it
	// holds fewer than ThreadsPerChild + this × its idle threads
	// connections.
	AsyncRequestWorkerFactor int `json:"async_request_worker_factor"`
	Loops                    int `json:"loops"`       // reactor: worker_processes (1)
	Connections              int `json:"connections"` // reactor: worker_connections (512)

	Backlog                int   `json:"backlog"`                   // ListenBacklog (511)
	KeepAlive              *bool `json:"keepalive"`                 // KeepAlive (true)
	KeepAliveTimeoutMS     int   `json:"keepalive_timeout_ms"`      // KeepAliveTimeout (5000)
	MaxKeepAliveRequests   *int  `json:"max_keepalive_requests"`    // MaxKeepAliveRequests (nil: 100; 0 unlimited)
	MaxConnectionsPerChild int   `json:"max_connections_per_child"` // (-1: never)
	TimeoutMS              int   `json:"timeout_ms"`                // Timeout (10000)
	LimitRequestBody       int   `json:"limit_request_body"`        // LimitRequestBody, bytes (1 GiB)
	MemoryLimitMB          int   `json:"memory_limit_mb"`           // per instance (256)
	// Each worker process's thread pool, which guest.Pool's work runs on:
	// nginx's thread_pool threads= (4, libuv's) and max_queue= (65536).
	ThreadPoolThreads  int `json:"thread_pool_threads"`
	ThreadPoolMaxQueue int `json:"thread_pool_max_queue"`
}

// Load is the load profile: closed loop (Rate 0) or open loop (Rate > 0).
type Load struct {
	Path   string `json:"path"`   // default "/"
	Method string `json:"method"` // default GET
	// Headers are sent with every request; Body is every request's body.
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Concurrency is the clients (closed loop) or the most requests in
	// flight (open loop): 1..MaxClients, past MaxConcurrency only with a
	// rate or think_ms that bounds what they send (Validate says which).
	Concurrency int `json:"concurrency"`
	// Requests or DurationMS bound the load (both: whichever comes first;
	// neither: DefaultRequests).
	Requests   int     `json:"requests"`
	DurationMS int     `json:"duration_ms"`
	KeepAlive  *bool   `json:"keepalive"` // default true
	Rate       float64 `json:"rate"`      // > 0: open loop, requests per second
	// ThinkMS, in closed loop, is each client's pause between a response
	// and its next request, on its kept connection (0: none).
	ThinkMS int `json:"think_ms"`
	// Groups, if any, are the load: kinds of traffic run at once, as k6's
	// scenarios, each a load of its own (its request and its arrival)
	// under a name, and each reported on its own: a steady fast group
	// beside an occasional slow one shows what the slow requests do to
	// the fast. Then the fields above but Requests and DurationMS are
	// unset, and those two bound the whole load (each group's own bound
	// it too). A load without groups is one group.
	Groups []Group `json:"groups,omitempty"`
}

// GroupHeader is the request header in which the load generator names a
// request's group; the workers report it with the request's trace events,
// so the live view and the summaries tell the groups apart.
const GroupHeader = "X-Mpmlab-Group"

// SentHeader is the request header in which the load generator says when
// it sent the request (Unix ns); the workers report it with the request's
// start, so the live view draws the time before a worker took the request:
// in the kernel's accept queue, or on its connection.
const SentHeader = "X-Mpmlab-Sent"

// Group is one kind of traffic in a Load: a load of its own under a name
// ("fast", "slow"; default "METHOD path"). It has no groups of its own.
type Group struct {
	Name string `json:"name"`
	Load
}

// Traffic returns the groups of a normalized load: its Groups, or the
// load itself as one group named "METHOD path".
func (l Load) Traffic() []Group {
	if len(l.Groups) > 0 {
		return l.Groups
	}
	return []Group{{Name: l.Method + " " + l.Path, Load: l}}
}

// Bool returns a pointer to b, for the KeepAlive fields.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n, for Knobs.MaxKeepAliveRequests.
func Int(n int) *int { return &n }

// On reports the value of an optional boolean, true when unset.
func On(b *bool) bool { return b == nil || *b }

// Normalize returns e with every default filled in, files sorted by name
// and the method upper-cased: the form Canonical encodes. It does not
// validate.
func (e Experiment) Normalize() Experiment {
	files := append([]File{}, e.Source.Files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	e.Source.Files = files
	e.Model = strings.ToLower(strings.TrimSpace(e.Model))
	if e.Model == "" {
		e.Model = DefaultModel
	}
	e.Knobs = e.Knobs.Normalize()
	e.Load = e.Load.Normalize()
	if len(e.Variants) > 0 {
		vs := make([]Variant, len(e.Variants))
		for i, v := range e.Variants {
			v.Model = strings.ToLower(strings.TrimSpace(v.Model))
			v.Name = strings.TrimSpace(v.Name)
			if v.Name == "" {
				v.Name = v.Model
			}
			var compact bytes.Buffer
			if json.Compact(&compact, v.Knobs) == nil {
				v.Knobs = compact.Bytes()
			}
			vs[i] = v
		}
		e.Variants = vs
	}
	if e.Browser != nil {
		b := *e.Browser
		b.Model = strings.ToLower(strings.TrimSpace(b.Model))
		if b.Model == "" {
			b.Model = DefaultBrowserModel
		}
		if b.Workers == 0 {
			b.Workers = DefaultBrowserWorkers
		}
		e.Browser = &b
	}
	return e
}

// Normalize returns k with every zero knob set to its default. Where zero
// means something to the engine, the experiment says it with -1 (min_spare:
// no spares; max_keepalive_requests: unlimited), so unlike
// models.Config.WithDefaults every zero here becomes its default; the
// playground maps -1 to the engine's zero.
func (k Knobs) Normalize() Knobs {
	k.normalize() // KnobTable's defaults
	return k
}

// Normalize returns l with every default filled in: each group's request
// and arrival, and the bound of a load that has none (DefaultRequests).
func (l Load) Normalize() Load {
	if len(l.Groups) == 0 {
		l = l.normalizeTraffic()
		if l.Requests == 0 && l.DurationMS == 0 {
			l.Requests = DefaultRequests
		}
		return l
	}
	groups := make([]Group, len(l.Groups))
	unbounded := false
	for i, g := range l.Groups {
		g.Load = g.Load.normalizeTraffic()
		g.Name = strings.TrimSpace(g.Name)
		if g.Name == "" {
			g.Name = g.Method + " " + g.Path
		}
		unbounded = unbounded || g.Requests == 0 && g.DurationMS == 0
		groups[i] = g
	}
	l.Groups = groups
	if unbounded && l.Requests == 0 && l.DurationMS == 0 {
		l.Requests = DefaultRequests
	}
	return l
}

// normalizeTraffic fills the defaults of one group's request and arrival.
func (l Load) normalizeTraffic() Load {
	if l.Path == "" {
		l.Path = DefaultPath
	}
	l.Method = strings.ToUpper(strings.TrimSpace(l.Method))
	if l.Method == "" {
		l.Method = DefaultMethod
	}
	if l.Concurrency == 0 {
		l.Concurrency = DefaultConcurrency
	}
	l.KeepAlive = Bool(On(l.KeepAlive))
	return l
}

// Canonical returns the canonical JSON of e: Normalize(e) encoded by
// encoding/json, so keys come in the fixed order of the struct fields
// (source, model, knobs, load), every knob and load field is present with
// its default filled in, files are sorted by name, and there is no
// insignificant whitespace. The same experiment always gives the same bytes.
func (e Experiment) Canonical() []byte {
	b, err := json.Marshal(e.Normalize())
	if err != nil { // cannot happen: plain strings, ints and a finite float
		panic(err)
	}
	return b
}

// ShareID returns the experiment's content address: the first 11 characters
// of the unpadded base64url SHA-256 of Canonical (66 bits).
func (e Experiment) ShareID() string {
	sum := sha256.Sum256(e.Canonical())
	return base64.RawURLEncoding.EncodeToString(sum[:])[:11]
}

// IsShareID reports whether s has the form of a share id.
func IsShareID(s string) bool {
	if len(s) != 11 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// EncodeFragment returns the experiment for a URL fragment: the unpadded
// base64url of the raw DEFLATE (RFC 1951) of Canonical. Links take the form
// "/#x=" + EncodeFragment().
func (e Experiment) EncodeFragment() string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(e.Canonical())
	w.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// DecodeFragment reverses EncodeFragment. It accepts the bare payload or
// the whole fragment ("#x=...", "x=..."), and returns the experiment
// normalized (not validated).
func DecodeFragment(s string) (Experiment, error) {
	s = strings.TrimPrefix(s, "#")
	s = strings.TrimPrefix(s, "x=")
	s = strings.TrimRight(s, "=")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Experiment{}, fmt.Errorf("fragment is not base64url: %v", err)
	}
	data, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxFragmentJSON+1))
	if err != nil {
		return Experiment{}, fmt.Errorf("fragment is not deflate data: %v", err)
	}
	if len(data) > maxFragmentJSON {
		return Experiment{}, fmt.Errorf("fragment inflates beyond %d bytes", maxFragmentJSON)
	}
	e, err := Unmarshal(data)
	if err != nil {
		return Experiment{}, fmt.Errorf("fragment: %v", err)
	}
	return e.Normalize(), nil
}

// Unmarshal decodes an experiment from JSON strictly: unknown fields and
// trailing data are errors. It does not normalize or validate.
func Unmarshal(data []byte) (Experiment, error) {
	var e Experiment
	if err := DecodeJSON(bytes.NewReader(data), &e); err != nil {
		return Experiment{}, err
	}
	return e, nil
}

// DecodeJSON decodes one JSON value from r into v strictly (unknown fields
// are errors) and checks that nothing follows it. Its errors read well in a
// 400 response: `json: unknown field "concurency"`.
func DecodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("json: empty body")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("json: %s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		if !strings.HasPrefix(err.Error(), "json: ") {
			return fmt.Errorf("json: %w", err)
		}
		return err
	}
	if dec.More() {
		return errors.New("json: unexpected data after the value")
	}
	return nil
}

// Validate checks the experiment against every limit, after filling
// defaults: the model, the source's size and file names, each knob and each
// load field. The error names the field as in JSON ("knobs.loops",
// "load.concurrency") and its range, e.g. "load.concurrency 500 out of range
// 1..200". A source too large is a *SizeError.
func (e Experiment) Validate() error {
	n := e.Normalize()
	if err := n.Source.Validate(); err != nil {
		var size *SizeError
		if errors.As(err, &size) {
			return err
		}
		return fmt.Errorf("source.files: %w", err)
	}
	if err := ValidateEnv(n.Env); err != nil {
		return fmt.Errorf("env: %w", err)
	}
	if n.Model != AllModels && ModelNamed(n.Model) == nil {
		return fmt.Errorf("model %q: want %s", e.Model, ModelList(AllModels))
	}
	if err := n.Knobs.Validate(); err != nil {
		return err
	}
	if b := n.Browser; b != nil {
		ok := false
		for _, m := range BrowserModels {
			ok = ok || b.Model == m
		}
		if !ok {
			return fmt.Errorf("browser.model %q: want instance-per-request, worker-pool or page-loop", e.Browser.Model)
		}
		if err := checkRange("browser.workers", b.Workers, 1, MaxBrowserWorkers); err != nil {
			return err
		}
	}
	// Variants are what Compare runs: checked when the experiment
	// compares (model "all"); a single model's run does not use them.
	if n.Model == AllModels {
		if err := n.validateVariants(); err != nil {
			return err
		}
	}
	for _, ref := range n.Blobs() {
		if !IsBlobID(ref.ID) {
			return fmt.Errorf("%s %q: want a blob id (43 characters of base64url, from POST /api/blobs)", ref.Field, ref.ID)
		}
	}
	return n.Load.Validate()
}

// validateVariants checks each variant of a normalized experiment: its
// name, its model, and the experiment it runs (its knobs and paths applied).
func (n Experiment) validateVariants() error {
	if len(n.Variants) > MaxVariants {
		return fmt.Errorf("variants: %d; the limit is %d", len(n.Variants), MaxVariants)
	}
	names := map[string]int{}
	for i, v := range n.Variants {
		field := fmt.Sprintf("variants[%d]", i)
		if j, ok := names[v.Name]; ok {
			return fmt.Errorf("%s.name %q: variants[%d] has it too; give each variant a name of its own", field, v.Name, j)
		}
		names[v.Name] = i
		if len(v.Name) > MaxGroupName || strings.ContainsFunc(v.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("%s.name %q: want at most %d bytes, no control characters", field, v.Name, MaxGroupName)
		}
		if ModelNamed(v.Model) == nil {
			return fmt.Errorf("%s.model %q: want %s", field, v.Model, ModelList())
		}
		ve, err := n.Apply(v)
		if err != nil {
			return fmt.Errorf("%s.%v", field, err)
		}
		ve = ve.Normalize()
		if err := ve.Knobs.Validate(); err != nil {
			return fmt.Errorf("%s.%v", field, err)
		}
		if err := ve.Load.Validate(); err != nil {
			return fmt.Errorf("%s.%v", field, err)
		}
	}
	return nil
}

func checkRange(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d out of range %d..%d", name, v, lo, hi)
	}
	return nil
}

// Validate checks every knob of a normalized Knobs against its range, and
// the guest instances of each model against MaxInstances (the knobs of
// every model are checked, whichever model runs).
func (k Knobs) Validate() error {
	if err := k.validate(true, func(kb *Knob) string { return "knobs." + kb.Name }); err != nil {
		return err
	}
	for i := range ModelTable {
		m := &ModelTable[i]
		if n := m.Instances(k); n > MaxInstances {
			return fmt.Errorf("%s = %d guest instances; the limit is %d", m.instanceKnobs(k), n, MaxInstances)
		}
	}
	return k.consistent(func(name string) string { return "knobs." + name })
}

// Instances returns how many guest instances model (a ModelTable name)
// starts at most under the normalized knobs k (ModelSpec.Instances); 0 for
// any other model.
func (k Knobs) Instances(model string) int {
	if m := ModelNamed(model); m != nil {
		return m.Instances(k)
	}
	return 0
}

// Validate checks a normalized Load against its limits, including that an
// open-loop load fits in MaxDurationMS. Errors name the field as in JSON:
// "load.concurrency", or "load.groups[1].rate" in a load of groups.
func (l Load) Validate() error {
	if err := checkRange("load.requests", l.Requests, 0, MaxRequests); err != nil {
		return err
	}
	if err := checkRange("load.duration_ms", l.DurationMS, 0, MaxDurationMS); err != nil {
		return err
	}
	if len(l.Groups) == 0 {
		return l.validateTraffic("load.")
	}
	if len(l.Groups) > MaxGroups {
		return fmt.Errorf("load.groups: %d groups; the limit is %d", len(l.Groups), MaxGroups)
	}
	if l.Path != "" || l.Method != "" || l.Headers != nil || l.Body != "" || l.Concurrency != 0 || l.KeepAlive != nil || l.Rate != 0 || l.ThinkMS != 0 {
		return errors.New("load: a load with groups sets path, method, headers, body, concurrency, keepalive, rate and think_ms in each group; only requests and duration_ms bound the whole")
	}
	names := map[string]int{}
	clients, unbound := 0, 0
	for i, g := range l.Groups {
		field := fmt.Sprintf("load.groups[%d].", i)
		if len(g.Groups) > 0 {
			return errors.New(field + "groups: groups do not nest")
		}
		if len(g.Name) > MaxGroupName || strings.ContainsFunc(g.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("%sname %q: want at most %d bytes, no control characters", field, g.Name, MaxGroupName)
		}
		if j, ok := names[g.Name]; ok {
			return fmt.Errorf("%sname %q: load.groups[%d] has it too; give each group a name of its own", field, g.Name, j)
		}
		names[g.Name] = i
		if err := g.Load.validateTraffic(field); err != nil {
			return err
		}
		clients += g.Concurrency
		if g.Rate == 0 && g.ThinkMS == 0 {
			unbound += g.Concurrency
		}
	}
	if clients > MaxClients {
		return fmt.Errorf("load.groups: %d clients in all (the sum of each group's concurrency); the limit is %d", clients, MaxClients)
	}
	if unbound > MaxConcurrency {
		return fmt.Errorf("load.groups: %d clients in all send as fast as they are answered (closed loops without think_ms); the limit is %d: give the groups a think_ms or a rate", unbound, MaxConcurrency)
	}
	return nil
}

// Clients returns the load's clients: the sum of its groups' concurrency.
func (l Load) Clients() int {
	n := 0
	for _, g := range l.Traffic() {
		n += g.Concurrency
	}
	return n
}

// rateBound checks that a group of more than MaxConcurrency clients bounds
// the rate they send to MaxRate: an open loop does (its rate is capped),
// a closed loop does if its clients think at least Concurrency/MaxRate
// seconds between a response and their next request.
func (l Load) rateBound(field string) error {
	if l.Concurrency <= MaxConcurrency || l.Rate > 0 {
		return nil
	}
	need := (l.Concurrency*1000 + MaxRate - 1) / MaxRate // think_ms, rounded up
	if l.ThinkMS >= need {
		return nil
	}
	return fmt.Errorf("%sconcurrency %d: past %d clients, a closed loop must bound what its clients send: think_ms at least %d (so that they send at most %d requests per second), or an open loop (rate)",
		field, l.Concurrency, MaxConcurrency, need, MaxRate)
}

// validateTraffic checks one group's request and arrival; field prefixes
// each field's name in errors.
func (l Load) validateTraffic(field string) error {
	if !strings.HasPrefix(l.Path, "/") || len(l.Path) > MaxPathLength || strings.ContainsFunc(l.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%spath %q: want an absolute path such as /?ms=300 (at most %d bytes, no spaces or control characters)", field, l.Path, MaxPathLength)
	}
	if _, err := url.ParseRequestURI(l.Path); err != nil {
		return fmt.Errorf("%spath %q: %v", field, l.Path, errors.Unwrap(err))
	}
	switch l.Method {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS":
	default:
		return fmt.Errorf("%smethod %q: want GET, POST, PUT, DELETE, HEAD, PATCH or OPTIONS", field, l.Method)
	}
	if len(l.Headers) > MaxHeaders {
		return fmt.Errorf("%sheaders: %d headers; the limit is %d", field, len(l.Headers), MaxHeaders)
	}
	for k, v := range l.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%sheaders: %q: want a header name (letters, digits, -) and a value on one line", field, k)
		}
	}
	if len(l.Body) > MaxBodyBytes {
		return fmt.Errorf("%sbody: %d bytes; the limit is %d", field, len(l.Body), MaxBodyBytes)
	}
	if err := checkRange(field+"concurrency", l.Concurrency, 1, MaxClients); err != nil {
		return err
	}
	if err := l.rateBound(field); err != nil {
		return err
	}
	if err := checkRange(field+"requests", l.Requests, 0, MaxRequests); err != nil {
		return err
	}
	if err := checkRange(field+"duration_ms", l.DurationMS, 0, MaxDurationMS); err != nil {
		return err
	}
	if math.IsNaN(l.Rate) || l.Rate < 0 || l.Rate > MaxRate {
		return fmt.Errorf("%srate %g out of range 0..%d (requests per second; 0 = closed loop)", field, l.Rate, MaxRate)
	}
	if err := checkRange(field+"think_ms", l.ThinkMS, 0, MaxThinkMS); err != nil {
		return err
	}
	if l.ThinkMS > 0 && l.Rate > 0 {
		return fmt.Errorf("%sthink_ms is for a closed loop (rate 0): an open loop's schedule is its rate", field)
	}
	if l.Rate > 0 && l.DurationMS == 0 && float64(l.Requests)/l.Rate > MaxDurationMS/1000 {
		return fmt.Errorf("%srequests %d at %srate %g take %.0f s; the limit is %d s (lower requests or raise rate)",
			field, l.Requests, field, l.Rate, float64(l.Requests)/l.Rate, MaxDurationMS/1000)
	}
	return nil
}

// validHeaderName reports whether k is an HTTP header field name (RFC 9110
// token characters).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// HistogramBoundsMS are the upper bounds, in milliseconds, of the live
// latency histogram's buckets, shared by the host's stats and the browser
// runs so both draw the same chart; a last, unbounded bucket follows.
var HistogramBoundsMS = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}
