// Command load drives one loopback URL with mpmlab's load generator
// (playground/loadgen), so that mpmlab and a real server (validate/apache)
// are measured by the same clients. It prints one line:
//
//	label  req/s  within  requests  errors  p50  p99
//
// req/s is loadgen's: every request over the run and its drain. within is
// the rate of requests answered while the load ran (-d): once the clients
// stop, connections that pinned a thread close and requests left in the
// backlog are answered after the fact, which inflates req/s for a server
// that made them wait (Apache's worker MPM, mpmlab's thread model).
//
// With -per-second it also prints the 200 responses answered in each second
// of the load, which shows a rate that swings within a run (the event case's
// stretches at a process's connection limit, validate/README.md).
//
// Usage:
//
//	go run ./validate/load -url http://127.0.0.1:18080/ -c 100 -think 1s -d 8s -label apache-event
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

func main() {
	url := flag.String("url", "", "loopback URL to load")
	c := flag.Int("c", 100, "closed-loop clients")
	think := flag.Duration("think", time.Second, "each client's wait after a response")
	d := flag.Duration("d", 8*time.Second, "how long to send requests")
	keepAlive := flag.Bool("keepalive", true, "clients reuse their connections")
	label := flag.String("label", "", "name printed first")
	perSecond := flag.Bool("per-second", false, "also print the 200 responses answered in each second of the load")
	flag.Parse()
	var within atomic.Int64
	seconds := make([]atomic.Int64, int(d.Seconds())+1)
	start := time.Now()
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: *url, Concurrency: *c, Think: *think, Duration: *d, KeepAlive: *keepAlive,
		OnResult: func(r loadgen.Result) {
			if at := r.Start.Add(r.Latency).Sub(start); r.Err == nil && r.Status == 200 && at <= *d {
				within.Add(1)
				seconds[int(at/time.Second)].Add(1)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	fmt.Printf("%-14s %6.1f req/s  %6.1f within/s  %5d requests  %3d errors %v  p50 %v  p99 %v\n", *label, sum.RPS,
		float64(within.Load())/d.Seconds(), sum.Requests, sum.Errors, sum.ErrorKinds,
		loadgen.FormatDuration(sum.Latency.P50), loadgen.FormatDuration(sum.Latency.P99))
	if *perSecond {
		fmt.Print("per second:")
		for i := range seconds[:int(d.Seconds())] {
			fmt.Printf(" %d", seconds[i].Load())
		}
		fmt.Println()
	}
}
