package loadgen

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A load of two groups sends each group's own request at its own arrival,
// reports each group apart, and sums them in the whole.
func TestLoadGroupsReportedApart(t *testing.T) {
	var fast, slow atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fast":
			fast.Add(1)
		case "/slow":
			slow.Add(1)
			if r.Method != http.MethodPost || r.Header.Get("X-Group") != "slow" {
				http.Error(w, "want the slow group's method and header", http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, strings.ToUpper(string(b)))
			return
		}
		io.WriteString(w, "ok")
	})
	var mu sync.Mutex
	byGroup := map[int]int{}
	sum, err := RunLoad(context.Background(), Load{
		Groups: []Group{
			{Name: "fast", Config: Config{URL: srv.URL + "/fast", Concurrency: 3, Requests: 30, KeepAlive: true}},
			{Name: "slow", Config: Config{URL: srv.URL + "/slow", Method: "POST", Body: []byte("abc"),
				Header: http.Header{"X-Group": {"slow"}}, Concurrency: 1, Requests: 5}},
		},
		OnResult: func(r Result) { mu.Lock(); byGroup[r.Group]++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Groups) != 2 || sum.Groups[0].Name != "fast" || sum.Groups[1].Name != "slow" {
		t.Fatalf("groups = %+v, want fast then slow", sum.Groups)
	}
	f, s := sum.Groups[0].Summary, sum.Groups[1].Summary
	if f.Requests != 30 || f.Succeeded != 30 || s.Requests != 5 || s.Succeeded != 5 {
		t.Errorf("fast %d/%d, slow %d/%d requests/succeeded; want 30/30 and 5/5", f.Requests, f.Succeeded, s.Requests, s.Succeeded)
	}
	if sum.Requests != 35 || sum.Succeeded != 35 {
		t.Errorf("whole load: %d requests, %d succeeded; want 35", sum.Requests, sum.Succeeded)
	}
	if fast.Load() != 30 || slow.Load() != 5 {
		t.Errorf("server saw %d fast and %d slow requests, want 30 and 5", fast.Load(), slow.Load())
	}
	if s.BytesRead != 5*3 || f.BytesRead != 30*2 {
		t.Errorf("bytes read: fast %d slow %d, want 60 and 15", f.BytesRead, s.BytesRead)
	}
	if byGroup[0] != 30 || byGroup[1] != 5 {
		t.Errorf("OnResult by group = %v, want 0:30 1:5", byGroup)
	}
}

// The whole load's Requests caps every group together, and its Duration
// caps each group's.
func TestLoadBounds(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	sum, err := RunLoad(context.Background(), Load{
		Groups: []Group{
			{Name: "a", Config: Config{URL: srv.URL, Concurrency: 2}},
			{Name: "b", Config: Config{URL: srv.URL, Rate: 200}},
		},
		Requests: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 40 || sum.Groups[0].Summary.Requests+sum.Groups[1].Summary.Requests != 40 {
		t.Errorf("requests = %d (a %d, b %d), want 40 in all", sum.Requests, sum.Groups[0].Summary.Requests, sum.Groups[1].Summary.Requests)
	}

	start := time.Now()
	sum, err = RunLoad(context.Background(), Load{
		Groups: []Group{
			{Name: "a", Config: Config{URL: srv.URL, Concurrency: 1, Duration: time.Minute}},
			{Name: "b", Config: Config{URL: srv.URL, Rate: 50}},
		},
		Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 300ms load took %v: the load's duration did not cap the group's minute", took)
	}
	if b := sum.Groups[1].Summary.Requests; b < 1 || b > 16 {
		t.Errorf("group b sent %d requests at 50/s in 300ms, want 1..16", b)
	}
}

func TestLoadValidate(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1/"}
	for _, tc := range []struct {
		load Load
		want string
	}{
		{Load{}, "1..16 groups"},
		{Load{Groups: []Group{{Name: "a", Config: ok}, {Config: ok}}}, "needs a name"},
		{Load{Groups: []Group{{Name: "a", Config: ok}, {Name: "a", Config: ok}}}, "needs a name of its own"},
		{Load{Groups: []Group{{Name: "a", Config: ok}, {Name: "b", Config: Config{URL: ok.URL, Rate: -1}}}}, "group b: rate -1"},
		{Load{Groups: []Group{{Config: ok}}, Requests: -1}, "requests -1"},
	} {
		err := tc.load.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.load, err, tc.want)
		}
	}
	if err := (Load{Groups: []Group{{Config: ok}}}).Validate(); err != nil {
		t.Errorf("one unnamed group: %v", err)
	}
}
