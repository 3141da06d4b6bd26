// Command differential is the handler of TestDifferential: one source,
// served natively (go build, net/http) and under each model by mpmlab run.
// Each path exercises one piece of net/http's semantics.
package main

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	// /file: one of the experiment's own files (natively, the server's
	// directory; under mpmlab, the sandbox's read-only file system).
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("greeting.txt")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	// /tz: a fixed instant in a named time zone (natively, Go's own
	// zoneinfo; under mpmlab, the tzdata built into the sandbox).
	http.HandleFunc("/tz", func(w http.ResponseWriter, r *http.Request) {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).In(loc).Format(time.RFC3339+" MST"))
	})
	// /stream: a first line flushed at once (carrying when it was
	// flushed), the second 400 ms later.
	http.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "flushed %d\n", time.Now().UnixNano())
		w.(http.Flusher).Flush()
		time.Sleep(400 * time.Millisecond)
		fmt.Fprintln(w, "done")
	})
	// /sse: three Server-Sent Events, 150 ms apart, each flushed.
	http.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for i := 0; i < 3; i++ {
			if i > 0 {
				time.Sleep(150 * time.Millisecond)
			}
			fmt.Fprintf(w, "id: %d\ndata: tick %d %d\n\n", i, i, time.Now().UnixNano())
			w.(http.Flusher).Flush()
		}
	})
	// /wait?tag=T: flushes "waiting", then waits for the request's context
	// and prints when it was done.
	http.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "waiting")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			fmt.Printf("cancelled %s at %d\n", r.URL.Query().Get("tag"), time.Now().UnixNano())
		case <-time.After(5 * time.Second):
			fmt.Printf("not cancelled %s\n", r.URL.Query().Get("tag"))
		}
	})
	// /big?n=N: N bytes, in 32 KiB writes.
	http.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := make([]byte, 32<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	// /upload: the body's length and CRC-32.
	http.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := crc32.NewIEEE()
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %08x %v\n", n, h.Sum32(), err)
	})
	// /trailers: one declared trailer and one named with TrailerPrefix.
	http.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "body\n")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})
	// /early: 103 Early Hints, then a 404.
	http.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		http.NotFound(w, r)
	})
	// /late: a header set after WriteHeader is dropped.
	http.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Early", "1")
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-Late", "1")
		io.WriteString(w, "late\n")
	})
	// /sniff: the type is sniffed from the first 512 bytes, not the first
	// Write; /nocontent: a 204 gets none.
	http.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "   ")
		io.WriteString(w, "<html><body>sniffed</body></html>")
	})
	http.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	// /small and /chunked: net/http frames a short body with
	// Content-Length, a longer one chunked; /badlen: a Write past the
	// declared Content-Length fails, and is not corrected.
	http.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "small\n")
	})
	http.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 100; i++ {
			io.WriteString(w, strings.Repeat("x", 49)+"\n")
		}
	})
	http.HandleFunc("/badlen", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "abcdef")
		io.WriteString(w, "abc")
		fmt.Printf("badlen write: %v\n", err)
	})
	// /info: the request's protocol fields.
	http.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"proto": r.Proto, "major": r.ProtoMajor, "minor": r.ProtoMinor, "close": r.Close,
			"content_length": r.ContentLength, "transfer_encoding": r.TransferEncoding, "read": n,
		})
	})
	// /refuse: refuses a body without reading it (Expect: 100-continue
	// must not be answered 100).
	http.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no thanks", http.StatusForbidden)
	})
	guest.Serve(nil)
}
