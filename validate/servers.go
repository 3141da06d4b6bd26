package validate

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// files are the real servers' configuration templates and Lua handlers.
//
//go:embed apache/httpd.conf.tmpl apache/*.lua nginx/nginx.conf.tmpl nginx/*.lua
var files embed.FS

// Where Debian's packages put what the real servers need.
const (
	apacheModules = "/usr/lib/apache2/modules"
	nginxModules  = "/usr/share/nginx/modules"
)

// Limits of starting and stopping a server.
const (
	startTimeout = 5 * time.Minute // mpmlab's side may build its handler first
	stopTimeout  = 10 * time.Second
)

// realServer is how a real server is found, configured and started.
type realServer struct {
	binary   string   // looked up on the search path
	packages []string // the Debian packages that bring it with what the cases need
	template string   // the configuration's template in files
	// modules are files the cases load, beside the binary.
	modules func(c *Case) []string
	// args are the binary's arguments for the configuration in dir.
	args func(dir, conf string) []string
}

var realServers = map[string]realServer{
	"apache": {
		binary: "apache2", packages: []string{"apache2"}, template: "apache/httpd.conf.tmpl",
		modules: func(c *Case) []string {
			return []string{apacheModules + "/mod_mpm_" + c.MPM + ".so", apacheModules + "/mod_lua.so"}
		},
		args: func(dir, conf string) []string { return []string{"-f", conf, "-DFOREGROUND"} },
	},
	"nginx": {
		binary: "nginx", packages: []string{"nginx", "libnginx-mod-http-lua"}, template: "nginx/nginx.conf.tmpl",
		modules: func(*Case) []string {
			return []string{nginxModules + "/ndk_http_module.so", nginxModules + "/ngx_http_lua_module.so"}
		},
		// -e: the error log before the configuration is read, which
		// would otherwise be /var/log/nginx's.
		args: func(dir, conf string) []string {
			return []string{"-p", dir + "/", "-c", conf, "-e", dir + "/error.log"}
		},
	},
}

// MissingError is a real server, or a module of it, not installed.
type MissingError struct {
	What     string   // what was not found: "apache2 on the search path", a module's file
	Packages []string // the Debian packages to install
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s not found: install the Debian packages %s (apt-get install %s)",
		e.What, strings.Join(e.Packages, ", "), strings.Join(e.Packages, " "))
}

// find returns the path of c's real server binary, searched for in path
// (a list like $PATH), or a *MissingError.
func find(c *Case, path string) (string, error) {
	rs := realServers[c.Server]
	bin := lookPath(rs.binary, path)
	if bin == "" {
		return "", &MissingError{What: rs.binary + " (on " + path + ")", Packages: rs.packages}
	}
	for _, m := range rs.modules(c) {
		if _, err := os.Stat(m); err != nil {
			return "", &MissingError{What: m, Packages: rs.packages}
		}
	}
	return bin, nil
}

// lookPath is exec.LookPath over the directories of path instead of $PATH.
func lookPath(name, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// DefaultPath is where the real servers are looked for: $PATH, and the
// sbin directories Debian installs them in, which a user's $PATH often
// lacks.
func DefaultPath() string {
	return strings.Join([]string{os.Getenv("PATH"), "/usr/local/sbin", "/usr/sbin", "/sbin"}, string(filepath.ListSeparator))
}

// configData is what a configuration template reads.
type configData struct {
	Dir, Port, Handler, MPM, User, Modules string
	K                                      experiment.Knobs // normalized: every default filled in
}

var templateFuncs = template.FuncMap{
	"mul":   func(a, b int) int { return a * b },
	"add":   func(a, b int) int { return a + b },
	"deref": func(p *int) int { return *p },
}

// writeConfig writes c's configuration and Lua handler for a real server
// on port into dir, and returns the configuration's path.
func writeConfig(c *Case, dir, port string) (string, error) {
	rs := realServers[c.Server]
	lua, err := fs.ReadFile(files, c.Lua)
	if err != nil {
		return "", err
	}
	handler := filepath.Join(dir, filepath.Base(c.Lua))
	if err := os.WriteFile(handler, lua, 0o644); err != nil {
		return "", err
	}
	tmpl, err := template.New(filepath.Base(rs.template)).Funcs(templateFuncs).ParseFS(files, rs.template)
	if err != nil {
		return "", err
	}
	data := configData{Dir: dir, Port: port, Handler: handler, MPM: c.MPM, K: c.Knobs.Normalize()}
	switch c.Server {
	case "apache":
		data.Modules = apacheModules
		if os.Geteuid() == 0 {
			data.User = "www-data" // Debian's: root's children must run as someone else
		}
	case "nginx":
		data.Modules = nginxModules // started as root, its workers run as its compiled-in user
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, filepath.Base(strings.TrimSuffix(rs.template, ".tmpl")))
	return conf, os.WriteFile(conf, b.Bytes(), 0o644)
}

// server is one running side of a case: the real server or mpmlab.
type server struct {
	url  string // http://127.0.0.1:PORT/
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  func() string // what it printed, for an error
}

// exited reports whether the server's parent process has exited.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// pid is the server's parent process, whose children are its workers.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server: SIGTERM (Apache and nginx stop at once, mpmlab
// stops its workers), then SIGKILL to its process group if it lingers.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// startReal starts c's real server (binary bin) on a free loopback port,
// with its configuration in a fresh directory under tmp, and waits until
// it answers.
func startReal(ctx context.Context, c *Case, bin, tmp string) (*server, func(), error) {
	dir, err := os.MkdirTemp(tmp, "mpmlab-validate-"+c.Server+"-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	// The children (Apache's www-data, nginx's compiled-in user) read the handler.
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	conf, err := writeConfig(c, dir, port)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	rs := realServers[c.Server]
	var out syncBuffer
	cmd := exec.Command(bin, rs.args(dir, conf)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s, err := startServer(cmd, "http://127.0.0.1:"+port+"/", func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.TrimSpace(out.String() + "\n" + string(log))
	})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("%s: %w", bin, err)
	}
	if err := waitReady(ctx, s); err != nil {
		s.stop()
		cleanup()
		return nil, nil, fmt.Errorf("%s (configuration %s): %w", bin, conf, err)
	}
	return s, cleanup, nil
}

// startServer starts cmd and watches for its exit.
func startServer(cmd *exec.Cmd, url string, log func() string) (*server, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{url: url, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(s.done) }()
	return s, nil
}

// waitReady waits until the server answers its URL with a 200, or exits.
func waitReady(ctx context.Context, s *server) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		status, err := get(ctx, s.url)
		if err == nil && status == 200 {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited (%v) before it answered:\n%s", s.cmd.ProcessState, s.log())
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %d", status)
			}
			return fmt.Errorf("did not answer %s: %v\n%s", s.url, err, s.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// version is the real server's one-line version ("Apache/2.4.67
// (Debian)", "nginx/1.22.1"), or its binary's name.
func version(bin string) string {
	out, err := exec.Command(bin, "-v").CombinedOutput()
	if err != nil {
		return filepath.Base(bin)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if _, v, ok := strings.Cut(line, "version: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return filepath.Base(bin)
}
