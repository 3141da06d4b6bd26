package runtime

import (
	"context"
	"os"
	"testing"

	"github.com/mpmlab/mpmlab/wasm/abi"
	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// rawSrc answers every frame with a fixed response, without net/http.
const rawSrc = `-- main.go --
package main

import (
	"bufio"
	"os"

	"github.com/mpmlab/mpmlab/wasm/abi"
)

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

// benchSrc builds src and measures sequential requests into one instance.
func benchSrc(b *testing.B, src string) {
	s, err := experiment.ParseTxtar([]byte(src))
	if err != nil {
		b.Fatal(err)
	}
	art, err := (&Builder{}).Build(context.Background(), s, TargetWASI)
	if err != nil {
		b.Fatal(err)
	}
	exampleModule(b, "hello")
	wasm, _ := os.ReadFile(art.Path)
	m, err := engine.Compile(context.Background(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	inst, err := m.Start(context.Background(), InstanceConfig{})
	if err != nil {
		b.Fatal(err)
	}
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
const minimalSrc = `-- main.go --
package main

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
