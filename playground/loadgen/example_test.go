package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mpmlab/mpmlab/playground/loadgen"
)

// Load a loopback server in closed and in open loop, and compare the runs.
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}))
	defer srv.Close()

	closed, err := loadgen.Run(context.Background(), loadgen.Config{
		URL:         srv.URL,
		Concurrency: 4,   // four clients, each waiting for its response
		Requests:    100, // then stop
		KeepAlive:   true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	open, err := loadgen.Run(context.Background(), loadgen.Config{
		URL:      srv.URL,
		Rate:     200, // one request every 5ms, whatever the server does
		Duration: 250 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("closed:", closed.Requests, "requests,", closed.StatusCodes[200], "OK")
	fmt.Println("open:", open.Requests, "requests,", open.StatusCodes[200], "OK")

	// For people, write to os.Stdout; the timings vary, so not here.
	_ = loadgen.WriteTable(io.Discard, []string{"closed", "open"}, []*loadgen.Summary{closed, open})
	_ = loadgen.WriteText(io.Discard, open, "open loop")
	// Output:
	// closed: 100 requests, 100 OK
	// open: 50 requests, 50 OK
}
