package models

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/mpmlab/mpmlab/wasm/stream"
)

// ScoreboardLetter maps a lane state to its mod_status letter.
func ScoreboardLetter(state string) byte {
	switch state {
	case stream.StateIdle:
		return '_'
	case stream.StateReading:
		return 'R'
	case stream.StateSending:
		return 'W'
	case stream.StateKeepAlive:
		return 'K'
	case stream.StateBlocked:
		return 'B' // ours: held in guest.Block
	default:
		return '.'
	}
}

// Scoreboard returns the scoreboard as mod_status prints it: one letter per
// slot (every lane of every process slot, open slots as '.').
func (s *Supervisor) Scoreboard() string {
	var b strings.Builder
	for _, w := range s.Workers() {
		for _, st := range w.Lanes {
			b.WriteByte(ScoreboardLetter(st))
		}
	}
	return b.String()
}

// StatusHandler serves a mod_status-style page at /server-status: the
// scoreboard with its key and one row per worker process; ?auto gives
// Apache's machine-readable form (BusyWorkers, IdleWorkers, Scoreboard),
// with mpmlab's own lines: the loops' lag, the thread pools' counters
// (PoolThreads, PoolBusy, PoolQueue, PoolDone, PoolOverflows).
func (s *Supervisor) StatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/server-status", func(w http.ResponseWriter, r *http.Request) {
		workers := s.Workers()
		board := s.Scoreboard()
		busy, idle := 0, 0
		for _, c := range board {
			switch c {
			case '_':
				idle++
			case '.':
			default:
				busy++
			}
		}
		if _, auto := r.URL.Query()["auto"]; auto {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "ServerMPM: %s\nUptime: %d\nBusyWorkers: %d\nIdleWorkers: %d\nProcesses: %d\n",
				s.cfg.Model, int(time.Since(s.start).Seconds()), busy, idle, len(s.PIDs()))
			if n, ok := acceptQueueDepth(s.ln); ok == nil {
				fmt.Fprintf(w, "AcceptQueue: %d\n", n)
			}
			if l := s.LoopLag(2 * time.Second); l.Samples > 0 {
				fmt.Fprintf(w, "LoopLagSamples: %d\nLoopLagP50Ms: %.2f\nLoopLagP99Ms: %.2f\nLoopLagMaxMs: %.2f\nLoopUtilisation: %.3f\n",
					l.Samples, ms(l.P50), ms(l.P99), ms(l.Max), l.Utilisation)
			}
			if p := s.Pool(); p.Threads > 0 {
				fmt.Fprintf(w, "PoolThreads: %d\nPoolBusy: %d\nPoolQueue: %d\nPoolDone: %d\nPoolOverflows: %d\n", p.Threads, p.Busy, p.Queued, p.Done, p.Overflows)
			}
			fmt.Fprintf(w, "Scoreboard: %s\n", board)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>mpmlab server-status</title><h1>mpmlab status (%s)</h1>\n", html.EscapeString(string(s.cfg.Model)))
		fmt.Fprintf(w, "<p>Server uptime: %v<br>%d requests currently being processed, %d idle workers</p>\n",
			time.Since(s.start).Round(time.Second), busy, idle)
		fmt.Fprintf(w, "<pre>%s</pre>\n", html.EscapeString(board))
		fmt.Fprint(w, "<p>Scoreboard Key:<br>\"<b><code>_</code></b>\" Waiting for Connection, \"<b><code>R</code></b>\" Reading Request, \"<b><code>W</code></b>\" Sending Reply, \"<b><code>K</code></b>\" Keepalive (read), \"<b><code>B</code></b>\" Blocked in guest.Block (mpmlab), \"<b><code>.</code></b>\" Open slot with no current process</p>\n")
		fmt.Fprint(w, "<table border=1><tr><th>Slot</th><th>PID</th><th>Lanes</th></tr>\n")
		for _, wk := range workers {
			var lanes strings.Builder
			for _, st := range wk.Lanes {
				lanes.WriteByte(ScoreboardLetter(st))
			}
			pid := "-"
			if wk.PID != 0 {
				pid = fmt.Sprint(wk.PID)
			}
			fmt.Fprintf(w, "<tr><td>%d</td><td>%s</td><td><code>%s</code></td></tr>\n", wk.Process, pid, lanes.String())
		}
		fmt.Fprint(w, "</table>\n")
	})
	return mux
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
