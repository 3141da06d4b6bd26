package runtime

import (
	"context"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

// rawSrc answers every frame with a fixed response, without net/http.
const rawSrc = `package main

import (
	"bufio"
	"os"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/guest"
)

// The build refuses a main that cannot reach guest.Serve; this one serves
// frames itself, so it only names it.
var _ = guest.Serve

func main() {
	in := bufio.NewReaderSize(os.NewFile(abi.RequestFD, "in"), 64<<10)
	out := os.NewFile(abi.ResponseFD, "out")
	var buf, ob []byte
	for {
		f, err := abi.ReadFrame(in, buf)
		if err != nil {
			return
		}
		_, id, _ := abi.Kind(f)
		ob = abi.AppendResponse(ob[:0], &abi.Response{ID: id, Status: 200, Body: []byte("hi")})
		out.Write(ob)
	}
}
`

// benchSrc builds src (main.go) and measures sequential requests into one instance.
func benchSrc(b *testing.B, src string) {
	inst := startGuest(b, src, InstanceConfig{})
	req := &abi.Request{Method: "GET", URI: "/", Host: "bench"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := inst.Do(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(inst.Loop().Passes())/float64(b.N), "passes/op")
}

// BenchmarkRoundTrip splits a request's cost in the guest: "frames" is a
// guest that answers frames directly (the host, the virtual WASI and the
// guest's scheduler: the floor), "sdk" a minimal net/http handler served by
// guest.Serve (adds building the http.Request, the mux and the response).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("frames", func(b *testing.B) { benchSrc(b, rawSrc) })
	b.Run("sdk", func(b *testing.B) { benchSrc(b, minimalSrc) })
}

// minimalSrc is the smallest net/http handler.
const minimalSrc = `package main

import (
	"net/http"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("hi\n"))
	})
	guest.Serve(nil)
}
`
