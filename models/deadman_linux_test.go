package models

import (
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The deadman kills its process when a request outlives its deadline, even
// if no goroutine can run; and a request that ends in time disarms it.
func TestDeadman(t *testing.T) {
	if os.Getenv("MPMLAB_DEADMAN_CHILD") != "" {
		var due atomic.Int64
		d, err := newDeadman(100*time.Millisecond, 50*time.Millisecond, &due)
		if err != nil {
			panic(err)
		}
		d.start()() // ends in time: disarmed
		time.Sleep(300 * time.Millisecond)
		d.start() // never ends
		time.Sleep(10 * time.Second)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeadman$")
	cmd.Env = append(os.Environ(), "MPMLAB_DEADMAN_CHILD=1")
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	if elapsed < 400*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("child killed after %v, want about 0.45s (the first request was disarmed)", elapsed)
	}
}

// The guard publishes the deadline it is armed for, for the supervisor to
// tell its SIGKILL from anyone else's, and clears it when disarmed.
func TestDeadmanPublishesDeadline(t *testing.T) {
	var due atomic.Int64
	d, err := newDeadman(time.Hour, time.Second, &due)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	end := d.start()
	got := time.Unix(0, due.Load())
	if want := before.Add(time.Hour + time.Second); got.Before(want) || got.After(want.Add(time.Minute)) {
		t.Fatalf("armed for %v, want about %v", got, want)
	}
	end()
	if due.Load() != 0 {
		t.Fatalf("disarmed, but the published deadline is %v", time.Unix(0, due.Load()))
	}
}

// A stopped watchdog stays stopped: the relay stops it at the guest's final
// frame, and the write to the client that follows pauses and resumes it
// without arming its timer or its deadman again.
func TestWatchdogStopsForGood(t *testing.T) {
	var due atomic.Int64
	dm, err := newDeadman(time.Hour, time.Second, &due)
	if err != nil {
		t.Skip(err)
	}
	fired := make(chan struct{}, 1) // never, in an hour
	wd := newWatchdog(time.Hour, dm, func() { fired <- struct{}{} })
	if due.Load() == 0 {
		t.Fatal("a running watchdog's deadman is not armed")
	}
	wd.stop()
	if due.Load() != 0 {
		t.Fatal("stop left the deadman armed")
	}
	wd.pause()
	wd.resume()
	wd.progress()
	wd.stop()
	if due.Load() != 0 || wd.t.Stop() || len(fired) > 0 {
		t.Fatal("a stopped watchdog was armed again")
	}
	var none *watchdog // no --timeout
	none.stop()
}
