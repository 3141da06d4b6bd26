package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	mpwasm "github.com/mpmlab/mpmlab/wasm"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Target is what a handler is built for: a GOOS with GOARCH=wasm, or
// TargetNative.
type Target string

const (
	// TargetWASI builds for the host: wazero runs the module, and the
	// guest SDK's Serve speaks the host ABI over virtual file descriptors.
	TargetWASI Target = "wasip1"
	// TargetJS builds for a JavaScript runtime (the browser): the guest
	// SDK's Serve hands the handler to github.com/syumai/workers.
	TargetJS Target = "js"
	// TargetNative builds an ordinary executable for this machine, where
	// the guest SDK's Serve is a plain net/http server on MPMLAB_ADDR: the
	// native baseline that "mpmlab bench --baseline" measures against.
	TargetNative Target = "native"
)

// DefaultBuildTimeout is the Builder's default Timeout. A first build for a
// target compiles the standard library for wasm, which takes tens of seconds
// on a slow machine; later builds reuse the go command's build cache.
const DefaultBuildTimeout = 5 * time.Minute

// Builder compiles handler sources to .wasm with the Go toolchain installed
// on the machine, offline, and caches the results by content hash.
//
//	b := &runtime.Builder{Progress: func(msg string) { log.Print(msg) }}
//	src, err := runtime.LoadSource("hello.go")
//	...
//	art, err := b.Build(ctx, src, runtime.TargetWASI)
//	var be *runtime.BuildError
//	if errors.As(err, &be) {
//		// be.Diagnostics: file:line:col of each compile error
//	}
//	wasm, err := os.ReadFile(art.Path)
//
// The zero Builder is ready to use; every field has a default.
//
// # How a build works
//
// The guest SDK (wasm/guest, wasm/abi and wasm/threadpool, embedded in the
// binary as mpwasm.SDK) is written once to CacheDir/sdk/<sdk hash>/ as a
// module named github.com/mpmlab/mpmlab. Each build writes the handler's
// files and a go.mod that replaces github.com/mpmlab/mpmlab with that
// directory into a fresh CacheDir/work/<key>-*/, runs "go build" there with
// GOOS=<target> GOARCH=wasm GOPROXY=off, and renames the output to
// CacheDir/wasm/<key>.wasm. The key covers everything that decides the
// output: the source, the Go version, the SDK and the target. The go
// command's own build cache (GOCACHE, inherited) is shared with the user's,
// which is what makes a rebuild after a one-line edit take about a second.
// Once the go command has built a source, the next source with the same
// imports is built by the compiler and the linker alone, without the go
// command's own work around them (directbuild.go): 0.45 s instead of 0.7.
//
// # Notes
//
//   - A Builder is safe for concurrent use; do not change its fields once it
//     is in use, and do not copy it. Concurrent builds of the same source
//     (in this process) wait for one go command; across processes, the
//     atomic rename of the output makes the race harmless.
//   - Nothing needs the network: the SDK comes from the binary, and
//     TargetJS's one dependency (github.com/syumai/workers) must already be
//     in the module cache (GOMODCACHE), as it is on a machine that built
//     mpmlab from source.
//   - Cached .wasm files are never removed by the Builder; deleting
//     CacheDir at any time is safe between builds.
type Builder struct {
	// CacheDir holds the SDK, the work directories, the built modules and
	// the import configurations of builds without the go command.
	// The default is DefaultCacheDir(): $MPMLAB_CACHE, else
	// os.UserCacheDir()/mpmlab.
	CacheDir string
	// GoCmd is the go command to run. The default is "go" from PATH, else
	// $GOROOT/bin/go of the Go that built this binary, else
	// /usr/local/go/bin/go.
	GoCmd string
	// Timeout bounds one run of the go command; the default is
	// DefaultBuildTimeout.
	Timeout time.Duration
	// Progress, if set, receives human-readable progress lines during a
	// build that is not a cache hit, such as
	// "compiling net/http (23 packages so far)". It is called at most once
	// per 250ms during compilation, never from two goroutines at once,
	// and should return quickly.
	Progress func(msg string)

	mu        sync.Mutex
	goVersion string // memoised `go env GOVERSION`
	goPath    string // resolved go command
	toolDir   string // memoised `go env GOTOOLDIR`

	imports importConfigs // what builds without the go command need (directbuild.go)

	progressMu sync.Mutex
}

// Artifact is a built handler module.
type Artifact struct {
	// Path is the .wasm file, CacheDir/wasm/<Hash>.wasm. It is never
	// rewritten once it exists: read it, copy it, do not modify it.
	Path string
	// Hash is the build's cache key: the hex SHA-256 over the source, the
	// Go version, the SDK and the target.
	Hash string
	// Cached reports whether the module came from the cache, with no run
	// of the go command.
	Cached bool
	// Elapsed is how long Build took.
	Elapsed time.Duration
	// Target is the GOOS the module was built for.
	Target Target
}

// buildVersion changes when the way a build runs changes (flags, go.mod
// layout), so modules built the old way are not reused.
const buildVersion = "mpmlab-build-1"

// Build compiles src for target, or returns the cached module built from
// the same inputs earlier. The error is a *BuildError when the go command
// rejected the source, or when the source compiles but its main never calls
// guest.Serve, so it could never answer a request (BuildError.NoServe; see
// checkServe); and a plain error for anything else:
// an invalid source (see experiment.Source.Validate), the go command missing, the
// timeout ("build timed out after 5m0s") or ctx ending.
func (b *Builder) Build(ctx context.Context, src experiment.Source, target Target) (*Artifact, error) {
	start := time.Now()
	if target != TargetWASI && target != TargetJS && target != TargetNative {
		return nil, fmt.Errorf("unknown build target %q (want %q, %q or %q)", target, TargetWASI, TargetJS, TargetNative)
	}
	if err := src.Validate(); err != nil {
		return nil, err
	}
	cacheDir, err := b.cacheDir()
	if err != nil {
		return nil, err
	}
	goVersion, err := b.GoVersion(ctx)
	if err != nil {
		return nil, err
	}
	key := buildKey(src, goVersion, target)
	art := &Artifact{
		Path:   filepath.Join(cacheDir, "wasm", key+target.ext()),
		Hash:   key,
		Target: target,
	}
	// Compile errors come first; a handler that compiles but cannot serve
	// is refused whether it was just built or found in the cache.
	noServe := checkServe(src.Go())
	cached := func() (*Artifact, error) {
		if noServe != nil {
			return nil, noServeError(noServe)
		}
		art.Cached = true
		art.Elapsed = time.Since(start)
		return art, nil
	}
	if fileExists(art.Path) {
		return cached()
	}

	unlock := keyLocks.lock(art.Path)
	defer unlock()
	if fileExists(art.Path) { // built by a concurrent Build while we waited
		return cached()
	}

	b.progress(fmt.Sprintf("building handler for %s", target))
	if err := b.compile(ctx, cacheDir, key, goVersion, src, target, art.Path); err != nil {
		return nil, err
	}
	if noServe != nil {
		return nil, noServeError(noServe)
	}
	art.Elapsed = time.Since(start)
	b.progress(fmt.Sprintf("built in %s", art.Elapsed.Round(100*time.Millisecond)))
	return art, nil
}

// compile builds one module and leaves it at out: with the compiler and the
// linker alone if the Builder learned how for the source's imports
// (directbuild.go), else with the go command, whose import configuration
// it then learns.
func (b *Builder) compile(ctx context.Context, cacheDir, key, goVersion string, src experiment.Source, target Target, out string) error {
	sdkDir, err := writeSDK(cacheDir, target)
	if err != nil {
		return err
	}
	workParent := filepath.Join(cacheDir, "work")
	if err := os.MkdirAll(workParent, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(workParent, key[:16]+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, f := range src.Go().Files { // data files are the handler's at run time (runtime.Files)
		if err := os.WriteFile(filepath.Join(work, f.Name), []byte(f.Data), 0o644); err != nil {
			return err
		}
	}
	if err := writeModFiles(work, handlerGoMod(sdkDir, target), target); err != nil {
		return err
	}

	outDir := filepath.Dir(out)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(outDir, "."+key+"-"+randomSuffix()+".tmp")
	defer os.Remove(tmp) // no-op once renamed

	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultBuildTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfgDir := filepath.Join(cacheDir, "importcfg")
	imports, files, direct := directSource(src, target, goVersion)
	var cfgKey string
	if direct {
		cfgKey = importConfigKey(target, goVersion, sdkDir, imports)
		if cfg := b.imports.lookup(cfgDir, cfgKey); cfg != nil {
			b.progress("compiling the handler and linking")
			output, err := b.buildDirect(runCtx, work, files, cfg, key, target, cacheDir, tmp)
			if err == nil {
				return storeModule(tmp, out)
			}
			if !errors.Is(err, errNoDirect) {
				return b.buildFailed(ctx, runCtx, timeout, "", output, err)
			}
			b.imports.forget(cfgDir, cfgKey) // the go command builds it, and we learn again
		}
	}

	goCmd, err := b.goCmd()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(runCtx, goCmd, "build", "-v", "-work", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = work
	cmd.Env = buildEnv(cacheDir, target)
	// The go command runs the compiler in child processes; if it is killed
	// they may hold the output pipe open for a moment. Do not wait for them.
	cmd.WaitDelay = 2 * time.Second

	output, goWork, runErr := b.run(cmd, work, target)
	if goWork != "" {
		defer os.RemoveAll(goWork)
	}
	if runErr != nil {
		return b.buildFailed(ctx, runCtx, timeout, goCmd, output, runErr)
	}
	if direct && goWork != "" {
		if err := b.learnImportConfig(cacheDir, cfgKey, goWork); err != nil {
			b.progress("the next build runs the go command again: " + err.Error())
		}
	}
	return storeModule(tmp, out)
}

// storeModule renames the module built at tmp to out.
func storeModule(tmp, out string) error {
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("store built module: %w", err)
	}
	return nil
}

// buildFailed turns a build's failure into its error: the timeout, the
// cancellation, the tool that could not run (goCmd, "" for a tool run
// directly), or a *BuildError with the diagnostics in output.
func (b *Builder) buildFailed(ctx, runCtx context.Context, timeout time.Duration, goCmd, output string, runErr error) error {
	switch {
	case runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return fmt.Errorf("build timed out after %s", timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("build cancelled: %w", ctx.Err())
	}
	var exitErr *exec.ExitError
	if !errors.As(runErr, &exitErr) {
		if goCmd == "" {
			return fmt.Errorf("build: %w", runErr)
		}
		return fmt.Errorf("run %s: %w", goCmd, runErr)
	}
	return &BuildError{Diagnostics: ParseDiagnostics(output), Output: output}
}

// run starts cmd and reads its output line by line until it exits, turning
// the package names of "go build -v" into progress messages. It returns the
// rest of the output, with the work directory's path made relative, and
// the go command's own work directory if it printed it ("go build -work"),
// for the caller to remove.
func (b *Builder) run(cmd *exec.Cmd, work string, target Target) (output, goWork string, err error) {
	lines := make(chan string, 64)
	lw := &lineWriter{ch: lines}
	cmd.Stdout, cmd.Stderr = lw, lw // the same comparable writer: one Write at a time
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait() // returns once the output copying has ended
		lw.flush()
		close(lines)
		done <- err
	}()

	var out strings.Builder
	packages := 0
	var last time.Time
	for line := range lines {
		if dir, ok := strings.CutPrefix(line, "WORK="); ok && goWork == "" && filepath.IsAbs(dir) && strings.HasPrefix(filepath.Base(dir), "go-build") {
			goWork = dir
			continue
		}
		if isPackageLine(line) {
			packages++
			switch {
			case line == handlerModule:
				b.progress("compiling the handler and linking")
			case packages == 1:
				// Only a first build compiles packages other than the
				// handler: the standard library, for this target.
				last = time.Now()
				b.progress(fmt.Sprintf("first build for %s: compiling Go's standard library too (tens of seconds, once)", target))
			case time.Since(last) >= 250*time.Millisecond:
				last = time.Now()
				b.progress(fmt.Sprintf("compiling %s (%d %s so far)", line, packages, plural(packages, "package")))
			}
			continue
		}
		line = strings.ReplaceAll(line, work+string(filepath.Separator), "")
		line = strings.ReplaceAll(line, work, ".")
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.String(), goWork, <-done
}

// lineWriter splits what it is written into lines sent on ch.
type lineWriter struct {
	ch      chan<- string
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.ch <- strings.TrimRight(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
	}
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.ch <- string(w.partial)
		w.partial = nil
	}
}

func (b *Builder) progress(msg string) {
	if b.Progress == nil {
		return
	}
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	b.Progress(msg)
}

// GoVersion returns the version of the go command the Builder runs, as
// `go env GOVERSION` prints it ("go1.26.8"). It runs the command once per
// Builder; later calls return the remembered answer. A failure is not
// remembered, so installing Go and calling again works.
func (b *Builder) GoVersion(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goVersion != "" {
		return b.goVersion, nil
	}
	goCmd, err := b.goCmdLocked()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && len(exitErr.Stderr) > 0 {
			return "", fmt.Errorf("%s env GOVERSION: %v: %s", goCmd, err, strings.TrimSpace(string(exitErr.Stderr)))
		}
		return "", fmt.Errorf("%s env GOVERSION: %w", goCmd, err)
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "", fmt.Errorf("%s env GOVERSION printed nothing", goCmd)
	}
	b.goVersion = v
	return v, nil
}

func (b *Builder) goCmd() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.goCmdLocked()
}

func (b *Builder) goCmdLocked() (string, error) {
	if b.goPath != "" {
		return b.goPath, nil
	}
	var candidates []string
	if b.GoCmd != "" {
		candidates = []string{b.GoCmd}
	} else {
		candidates = []string{"go"}
		//lint:ignore SA1019 the GOROOT mpmlab was built with is a fallback for a machine without go on PATH
		if root := goruntime.GOROOT(); root != "" {
			candidates = append(candidates, filepath.Join(root, "bin", "go"))
		}
		candidates = append(candidates, "/usr/local/go/bin/go")
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			b.goPath = p
			return p, nil
		}
	}
	return "", fmt.Errorf("go toolchain not found (looked for %s): install Go 1.26 or later, or set Builder.GoCmd to the go command's path", strings.Join(candidates, ", "))
}

func (b *Builder) cacheDir() (string, error) {
	dir := b.CacheDir
	if dir == "" {
		dir = DefaultCacheDir()
	}
	// The handler's go.mod names the SDK directory, which must be absolute.
	return filepath.Abs(dir)
}

// buildEnv is the go command's environment: the caller's, with everything
// that decides the target or could reach the network pinned.
func buildEnv(cacheDir string, target Target) []string {
	env := os.Environ()
	set := func(k, v string) { env = append(env, k+"="+v) } // later entries win
	if target == TargetNative {
		set("GOOS", goruntime.GOOS)
		set("GOARCH", goruntime.GOARCH)
	} else {
		set("GOOS", string(target))
		set("GOARCH", "wasm")
	}
	set("CGO_ENABLED", "0")
	set("GOPROXY", "off")
	set("GOSUMDB", "off")
	set("GOFLAGS", "-mod=mod -buildvcs=false")
	set("GOWORK", "off")
	set("GOTOOLCHAIN", "local")
	set("GO111MODULE", "on")
	// Keep the user's GOCACHE (a shared build cache makes rebuilds fast);
	// only when the go command could not find one, give it ours.
	if os.Getenv("GOCACHE") == "" {
		if _, err := os.UserCacheDir(); err != nil {
			set("GOCACHE", filepath.Join(cacheDir, "go-build"))
		}
	}
	return env
}

// handlerModule is the module path of the handler's go.mod, and the import
// path "go build -v" prints last, just before linking.
const handlerModule = "mpmlab.local/handler"

func handlerGoMod(sdkDir string, target Target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo 1.26\n\nrequire github.com/mpmlab/mpmlab v0.0.0\n", handlerModule)
	if target == TargetJS {
		fmt.Fprintf(&b, "\nrequire %s // indirect\n", workersModule)
	}
	if strings.ContainsAny(sdkDir, " \t\"'`\\") {
		sdkDir = strconv.Quote(sdkDir) // go.mod's quoting is Go's
	}
	fmt.Fprintf(&b, "\nreplace github.com/mpmlab/mpmlab => %s\n", sdkDir)
	return b.String()
}

// workersModule is the one module the js build of the SDK needs.
const workersModule = "github.com/syumai/workers v0.33.0"

// workersGoSum are the go.sum lines of workersModule, copied from mpmlab's
// go.sum (go.sum cannot be embedded from here). TestWorkersGoSum checks that
// they still match it.
const workersGoSum = `github.com/syumai/workers v0.33.0 h1:ku24TZT8m32leS5wYId1F+pGPVXhl+TPnxaDwbr66y4=
github.com/syumai/workers v0.33.0/go.mod h1:ZnqmdiHNBrbxOLrZ/HJ5jzHy6af9cmiNZk10R9NrIEA=
`

// writeModFiles writes go.mod, and go.sum for TargetJS, into dir.
func writeModFiles(dir, goMod string, target Target) error {
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	if target == TargetJS {
		return os.WriteFile(filepath.Join(dir, "go.sum"), []byte(workersGoSum), 0o644)
	}
	return nil
}

var sdkHash = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(mpwasm.SDK, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := fs.ReadFile(mpwasm.SDK, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
})

func buildKey(src experiment.Source, goVersion string, target Target) string {
	h := sha256.New()
	// Only the Go files make the module: an edit of data.json is no rebuild.
	for _, part := range []string{buildVersion, src.Go().Hash(), goVersion, sdkHash(), string(target)} {
		fmt.Fprintf(h, "%d\x00", len(part))
		io.WriteString(h, part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSDK makes sure the SDK module for target exists under cacheDir and
// returns its directory. It is written to a temporary directory and renamed
// into place, so a directory that exists is complete.
func writeSDK(cacheDir string, target Target) (string, error) {
	name := sdkHash()
	goMod := "module github.com/mpmlab/mpmlab\n\ngo 1.26\n"
	if target == TargetJS {
		name += "-js"
		goMod += "\nrequire " + workersModule + "\n"
	}
	parent := filepath.Join(cacheDir, "sdk")
	dir := filepath.Join(parent, name)
	if fileExists(filepath.Join(dir, "go.mod")) {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+name[:16]+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	err = fs.WalkDir(mpwasm.SDK, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || strings.HasSuffix(path, "_test.go") {
			return err
		}
		dst := filepath.Join(tmp, "wasm", filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(mpwasm.SDK, path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err == nil {
		err = writeModFiles(tmp, goMod, target)
	}
	if err != nil {
		return "", fmt.Errorf("write guest SDK: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !fileExists(filepath.Join(dir, "go.mod")) {
		return "", fmt.Errorf("write guest SDK: %w", err)
	}
	return dir, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// keyLocks serialises builds of one output path within the process.
var keyLocks = &pathLocks{m: make(map[string]*pathLock)}

type pathLocks struct {
	mu sync.Mutex
	m  map[string]*pathLock
}

type pathLock struct {
	mu   sync.Mutex
	refs int
}

func (l *pathLocks) lock(path string) (unlock func()) {
	l.mu.Lock()
	pl := l.m[path]
	if pl == nil {
		pl = &pathLock{}
		l.m[path] = pl
	}
	pl.refs++
	l.mu.Unlock()

	pl.mu.Lock()
	return func() {
		pl.mu.Unlock()
		l.mu.Lock()
		if pl.refs--; pl.refs == 0 {
			delete(l.m, path)
		}
		l.mu.Unlock()
	}
}

// ext is the file extension of target's build output.
func (t Target) ext() string {
	if t == TargetNative {
		return ".exe"
	}
	return ".wasm"
}
