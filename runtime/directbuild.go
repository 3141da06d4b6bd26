package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// Building without the go command.
//
// A third of a handler's build is the go command's own work around the two
// tools that make the module: it loads the module graph, plans the build
// and hashes every input, then runs the compiler on the handler's package
// and the linker. After an edit, only the handler's package changes: every
// package it imports, the standard library and the SDK, comes from the
// build cache as compiled archives. So once the go command has built a
// handler, the Builder learns what it would pass the two tools for that
// handler's imports, and builds the next source with the same imports by
// running them itself: the compiler on the handler's files and the linker,
// 0.43 s where "go build" takes 0.6 s here (go command 0.17 s, link 0.39 s,
// compile 0.04 s), the part of an edit's way to its first answer that the
// person waits for.
//
// What is learned, per target, Go version, SDK and set of imports (an
// importConfig, kept in CacheDir/importcfg/), is what the go command
// handed the linker: the archive of every package the handler depends on,
// and the module information the linker stamps into the module. Every
// "go build" keeps its work directory (-work), where that file is, for the
// Builder to read and remove: learning costs nothing. The tools' flags are
// those "go build -trimpath -ldflags='-s -w'" passes them;
// TestDirectBuildMatchesGoBuild checks that both ways make the same module
// but for its build ID.
//
// # Notes
//
//   - Only a source for wasm (not TargetNative) that the go command would
//     build as it is: every file is a .go file of package main that
//     matches the target, with no build constraint, no cgo and no embedded
//     files (which need the go command's help), and a Go whose language
//     version is the handler go.mod's (a newer go command passes the
//     linker the older version's GODEBUG defaults). Anything else, and the
//     first build of a set of imports, runs "go build".
//   - The go command trims archives unused for days from its cache; a
//     configuration is checked, once per Builder, for archives that are
//     gone, and a compile that cannot import falls back to "go build",
//     which builds them again; both forget the configuration.
type importConfig struct {
	packages string // "packagefile path=archive" lines, every package the handler depends on
	modinfo  string // the linker's "modinfo ..." line, "" if the module had none
}

// handlerGoVersion is the language version of the handler's go.mod.
const handlerGoVersion = "1.26"

// directSource reports whether src's files may be built without the go
// command for target (see above) and returns their imports, sorted, and
// their names, in the order "go build" passes them to the compiler.
func directSource(src experiment.Source, target Target, goVersion string) (imports, files []string, ok bool) {
	if target == TargetNative || goVersion != "go"+handlerGoVersion && !strings.HasPrefix(goVersion, "go"+handlerGoVersion+".") {
		return nil, nil, false
	}
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = string(target), "wasm", false
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range src.Go().Files {
		name := f.Name
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "_") ||
			strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
			return nil, nil, false
		}
		data := f.Data
		ctx.OpenFile = func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }
		if match, err := ctx.MatchFile(".", name); err != nil || !match { // a _GOOS or _GOARCH in the name
			return nil, nil, false
		}
		file, err := parser.ParseFile(fset, name, f.Data, parser.ImportsOnly|parser.ParseComments)
		if err != nil || file.Name.Name != "main" {
			return nil, nil, false // the go command words syntax errors its own way
		}
		for _, cg := range file.Comments {
			if cg.Pos() > file.Package {
				break
			}
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//go:build") || strings.HasPrefix(c.Text, "// +build") {
					return nil, nil, false
				}
			}
		}
		if strings.Contains(f.Data, "//go:embed") {
			return nil, nil, false
		}
		for _, imp := range file.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil || path == "C" || path == "embed" {
				return nil, nil, false
			}
			if !seen[path] {
				seen[path] = true
				imports = append(imports, path)
			}
		}
		files = append(files, name)
	}
	if len(files) == 0 {
		return nil, nil, false
	}
	slices.Sort(imports)
	slices.Sort(files)
	return imports, files, true
}

// importConfigKey names the import configuration of a build for target
// with goVersion, the SDK at sdkDir and imports: what decides the archives
// the go command would use, including the environment that changes them.
func importConfigKey(target Target, goVersion, sdkDir string, imports []string) string {
	h := sha256.New()
	parts := []string{buildVersion, string(target), goVersion, sdkDir, os.Getenv("GOEXPERIMENT"), os.Getenv("GOWASM"), os.Getenv("GOAMD64"), os.Getenv("GOARM64"), os.Getenv("GOCACHE")}
	for _, part := range append(parts, imports...) {
		fmt.Fprintf(h, "%d\x00%s", len(part), part)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// importConfigs are the configurations a Builder has learned or read and
// checked in this process, by key.
type importConfigs struct {
	mu sync.Mutex
	m  map[string]*importConfig
}

// lookup returns the configuration for key: the one this Builder checked,
// else the one in dir (CacheDir/importcfg) if all its archives exist; nil
// if there is none.
func (c *importConfigs) lookup(dir, key string) *importConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg := c.m[key]; cfg != nil {
		return cfg
	}
	data, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		return nil
	}
	cfg := parseImportConfig(string(data))
	if cfg == nil {
		return nil
	}
	for _, line := range strings.Split(cfg.packages, "\n") {
		_, archive, _ := strings.Cut(line, "=")
		if line != "" && !fileExists(archive) {
			os.Remove(filepath.Join(dir, key)) // the go command trimmed its cache
			return nil
		}
	}
	if c.m == nil {
		c.m = map[string]*importConfig{}
	}
	c.m[key] = cfg
	return cfg
}

// forget drops the configuration for key, here and in dir.
func (c *importConfigs) forget(dir, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	os.Remove(filepath.Join(dir, key))
}

// store keeps cfg for key, here and in dir (atomically renamed into place).
func (c *importConfigs) store(dir, key string, cfg *importConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+key+"-"+randomSuffix()+".tmp")
	if err := os.WriteFile(tmp, []byte(cfg.packages+cfg.modinfo+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, key)); err != nil {
		os.Remove(tmp)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*importConfig{}
	}
	c.m[key] = cfg
	return nil
}

// parseImportConfig reads what store wrote; nil if it is not that.
func parseImportConfig(s string) *importConfig {
	var cfg importConfig
	var packages strings.Builder
	for _, line := range strings.Split(s, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "packagefile ") && strings.Contains(line, "="):
			packages.WriteString(line + "\n")
		case strings.HasPrefix(line, "modinfo "):
			cfg.modinfo = line
		default:
			return nil
		}
	}
	cfg.packages = packages.String()
	if cfg.packages == "" {
		return nil
	}
	return &cfg
}

// errNoDirect says a direct build could not use its import configuration
// (an archive is gone, or a tool failed in a way the go command would
// not): the go command builds instead.
var errNoDirect = errors.New("direct build not possible")

// buildDirect builds the handler whose files (names, in work) import what
// cfg was learned for, into out, by running the compiler and the linker
// (see "Building without the go command"). It returns the compiler's
// output, with the go command's package header, and an *exec.ExitError if
// the compiler rejected the source; errNoDirect if the go command should
// build it instead.
func (b *Builder) buildDirect(ctx context.Context, work string, files []string, cfg *importConfig, key string, target Target, cacheDir, out string) (string, error) {
	toolDir, goVersion, err := b.tools(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", errNoDirect
	}
	compileCfg := filepath.Join(work, "importcfg")
	linkCfg := filepath.Join(work, "importcfg.link")
	archive := filepath.Join(work, "_pkg_.a")
	if err := os.WriteFile(compileCfg, []byte("# import config\n"+cfg.packages), 0o644); err != nil {
		return "", err
	}
	link := "packagefile " + handlerModule + "=" + archive + "\n" + cfg.packages
	if cfg.modinfo != "" {
		link += cfg.modinfo + "\n"
	}
	if err := os.WriteFile(linkCfg, []byte(link), 0o644); err != nil {
		return "", err
	}
	env := buildEnv(cacheDir, target)
	id := buildIDOf(key)
	args := []string{"-o", archive, "-trimpath", work + "=>" + handlerModule, "-p", "main", "-lang=go" + handlerGoVersion,
		"-complete", "-buildid", id[0] + "/" + id[0], "-dwarf=false", "-goversion", goVersion,
		"-c=" + strconv.Itoa(min(4, goruntime.GOMAXPROCS(0))), "-nolocalimports", "-importcfg", compileCfg, "-pack"}
	for _, f := range files {
		args = append(args, "./"+f)
	}
	compile := exec.CommandContext(ctx, filepath.Join(toolDir, "compile"), args...)
	compile.Dir, compile.Env = work, env
	output, err := compile.CombinedOutput()
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || ctx.Err() != nil {
			return "", err
		}
		if bytes.Contains(output, []byte("could not import")) {
			return "", errNoDirect // an archive is gone or unreadable: the go command knows what to do
		}
		out := strings.ReplaceAll(string(output), work+string(filepath.Separator), "")
		return "# " + handlerModule + "\n" + out, err
	}
	linker := exec.CommandContext(ctx, filepath.Join(toolDir, "link"), "-o", out, "-importcfg", linkCfg,
		"-buildmode=exe", "-buildid="+strings.Join(id[:], "/"), "-s", "-w", archive)
	linker.Dir, linker.Env = work, env
	if output, err := linker.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		b.progress("linking without the go command failed, building with it: " + strings.TrimSpace(string(output)))
		return "", errNoDirect
	}
	return "", nil
}

// buildIDOf is a build ID for the build with key, in the go command's form
// (four parts of 20 characters for the linker; the compiler takes the
// first twice), so that the module's layout is the one the go command's
// build has.
func buildIDOf(key string) [4]string {
	sum := sha256.Sum256([]byte(key))
	enc := base64.RawURLEncoding.EncodeToString(append(sum[:], sum[:]...))
	return [4]string{enc[0:20], enc[20:40], enc[40:60], enc[0:20]}
}

// tools returns the go command's tool directory (GOTOOLDIR) and version,
// asked once per Builder.
func (b *Builder) tools(ctx context.Context) (toolDir, goVersion string, err error) {
	goVersion, err = b.GoVersion(ctx)
	if err != nil {
		return "", "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.toolDir != "" {
		return b.toolDir, goVersion, nil
	}
	goCmd, err := b.goCmdLocked()
	if err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOTOOLDIR")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
	outb, err := cmd.Output()
	dir := strings.TrimSpace(string(outb))
	if err != nil || dir == "" {
		return "", "", fmt.Errorf("%s env GOTOOLDIR: %v", goCmd, err)
	}
	b.toolDir = dir
	return dir, goVersion, nil
}

// learnImportConfig reads, from the work directory the go command kept
// ("go build -work") after a build, the import configuration it handed
// the linker, and stores it under key.
func (b *Builder) learnImportConfig(cacheDir, key, goWork string) error {
	links, _ := filepath.Glob(filepath.Join(goWork, "b*", "importcfg.link"))
	for _, path := range links {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(data, []byte("packagefile "+handlerModule+"=")) {
			continue
		}
		_, rest, _ := bytes.Cut(data, []byte("\n")) // the handler's own archive: each build has its own
		cfg := parseImportConfig(string(rest))
		if cfg == nil || !strings.Contains(cfg.packages, "packagefile runtime=") {
			return fmt.Errorf("%s: not an import configuration", path)
		}
		return b.imports.store(filepath.Join(cacheDir, "importcfg"), key, cfg)
	}
	return fmt.Errorf("no linker import configuration in %s", goWork)
}
