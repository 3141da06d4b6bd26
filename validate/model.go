package validate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// modelArgs are the arguments of `mpmlab run` for c's model: its knobs
// that the case sets, as flags (the rest are at mpmlab's defaults, which
// the real server's configuration is written with).
func modelArgs(c *Case) []string {
	args := []string{"run", "--model", c.Model, "--addr", "127.0.0.1:0", "--compile-first", "--quiet"}
	for i := range experiment.KnobTable {
		k := &experiment.KnobTable[i]
		p := k.Int(&c.Knobs)
		if p == nil || *p == 0 || k.Optional() {
			continue
		}
		v := strconv.Itoa(*p)
		if k.Unit == experiment.Millis { // the flag is a duration
			v = (time.Duration(*p) * time.Millisecond).String()
		}
		args = append(args, "--"+k.Flag+"="+v)
	}
	return append(args, c.Handler)
}

// startModel runs `mpmlab run` (binary mpmlab) for c's model and waits
// until it answers. Its worker processes are its children, as Apache's
// and nginx's are their parent's.
func startModel(ctx context.Context, c *Case, mpmlab string) (*server, error) {
	cmd := exec.Command(mpmlab, modelArgs(c)...)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s, err := startServer(cmd, "", func() string { return strings.TrimSpace(errOut.String()) })
	if err != nil {
		return nil, err
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				listening <- url
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	select {
	case url := <-listening:
		s.url = strings.TrimSuffix(url, "/") + "/"
	case <-s.done:
		return nil, fmt.Errorf("mpmlab %s exited (%v) before it listened:\n%s", strings.Join(cmd.Args[1:], " "), cmd.ProcessState, s.log())
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("mpmlab %s did not listen: %v\n%s", strings.Join(cmd.Args[1:], " "), ctx.Err(), s.log())
	}
	if err := waitReady(ctx, s); err != nil {
		s.stop()
		return nil, fmt.Errorf("mpmlab %s: %w", strings.Join(cmd.Args[1:], " "), err)
	}
	return s, nil
}
