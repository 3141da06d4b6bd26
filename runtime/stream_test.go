package runtime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

const streamGuest = `package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for i := 0; i < 128; i++ { // 4 MiB
			w.Write(chunk)
		}
	})
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(w, r.Body)
		fmt.Printf("echoed %d %v\n", n, err)
	})
	http.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		fmt.Println("wait: context done")
	})
	guest.Serve(nil)
}
`

// next waits for the stream's next frame.
func next(t *testing.T, st *Stream) *abi.Frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if f, ok := st.Take(); ok {
			return f
		}
		select {
		case <-st.Ready():
		case <-deadline:
			t.Fatal("no frame within 10s")
		}
	}
}

// A handler that writes more than abi.Window parks until the host
// acknowledges what it sent: the host never holds more than a window of
// it, whatever the response's size.
func TestStreamFlowControl(t *testing.T) {
	inst := startGuest(t, streamGuest, InstanceConfig{})
	st, err := inst.Open(&abi.Request{Method: "GET", URI: "/big"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f := next(t, st); f.Kind != abi.KindHead || f.N != 200 {
		t.Fatalf("first frame %+v, want the head", f)
	}
	unacked := 0
	// Without acknowledgements the guest sends one window, then waits in
	// poll_oneoff with nothing more to send.
	waitIdle := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			f, ok := st.Take()
			if ok {
				if f.Kind != abi.KindData {
					t.Fatalf("frame kind %d before the window was acknowledged", f.Kind)
				}
				unacked += len(f.Data)
				continue
			}
			if unacked == abi.Window && inst.Loop().InPoll() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes unacknowledged, guest in poll %v; want %d and parked", unacked, inst.Loop().InPoll(), abi.Window)
			}
			select {
			case <-st.Ready():
			case <-time.After(time.Millisecond):
			}
		}
	}
	waitIdle()
	if f, ok := st.Take(); ok {
		t.Fatalf("a frame past the window: %+v", f.Kind)
	}
	total := unacked
	for done := false; !done; {
		st.Send(&abi.Frame{Kind: abi.KindWindow, N: uint32(unacked)})
		unacked = 0
		for !done && unacked < abi.Window {
			switch f := next(t, st); f.Kind {
			case abi.KindData:
				unacked += len(f.Data)
				total += len(f.Data)
				if unacked > abi.Window {
					t.Fatalf("%d bytes unacknowledged, over the window", unacked)
				}
			case abi.KindEnd:
				done = true
			default:
				t.Fatalf("unexpected frame kind %d", f.Kind)
			}
		}
	}
	if total != 4<<20 {
		t.Fatalf("got %d bytes, want 4 MiB", total)
	}
}

// A streamed request body is read when the handler asks (KindRead), at
// most abi.MaxData at a time.
func TestStreamRequestBody(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	inst := startGuest(t, streamGuest, InstanceConfig{Log: func(stream, line string) {
		mu.Lock()
		logs = append(logs, line)
		mu.Unlock()
	}})
	st, err := inst.Open(&abi.Request{Method: "POST", URI: "/echo", ContentLength: -1, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent, got := 0, 0
	for {
		f := next(t, st)
		switch f.Kind {
		case abi.KindRead:
			if f.N > abi.MaxData {
				t.Fatalf("asked for %d bytes, over MaxData", f.N)
			}
			if sent == 1<<20 {
				st.Send(&abi.Frame{Kind: abi.KindEOF})
				continue
			}
			st.Send(&abi.Frame{Kind: abi.KindData, Data: make([]byte, f.N)})
			sent += int(f.N)
		case abi.KindHead:
		case abi.KindData:
			got += len(f.Data)
			st.Send(&abi.Frame{Kind: abi.KindWindow, N: uint32(len(f.Data))})
		case abi.KindEnd, abi.KindResponse:
			got += len(f.Data)
			if got != sent {
				t.Fatalf("echoed %d of %d bytes", got, sent)
			}
			waitLog(t, &mu, &logs, "echoed 1048576 <nil>")
			return
		default:
			t.Fatalf("unexpected frame kind %d", f.Kind)
		}
	}
}

// Closing a stream the guest has not ended cancels its context.
func TestStreamCancel(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	inst := startGuest(t, streamGuest, InstanceConfig{Log: func(stream, line string) {
		mu.Lock()
		logs = append(logs, line)
		mu.Unlock()
	}})
	st, err := inst.Open(&abi.Request{Method: "GET", URI: "/wait"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	waitLog(t, &mu, &logs, "wait: context done")
	// The instance goes on serving.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := inst.Do(ctx, &abi.Request{Method: "GET", URI: "/big"}); err != nil {
		t.Fatal(err)
	}
}

func waitLog(t *testing.T, mu *sync.Mutex, logs *[]string, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(*logs, "\n")
		mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the guest's output within 10s:\n%s", want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
