package guest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

// A handler is plain net/http; guest.Serve(nil) would serve it. Here it
// runs natively through httptest, as the native baseline does.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := guest.Shared.Add("hits", 1)
		fmt.Fprintf(w, "hit %d", n)
	})
	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		fmt.Println(rec.Body.String())
	}
	// Output:
	// hit 1
	// hit 2
}

func ExampleWorkerInfo_String() {
	fmt.Println(guest.WorkerInfo{Model: "process", Process: 3, PID: 4242})
	fmt.Println(guest.WorkerInfo{Model: "thread", Process: 2, Thread: 5, PID: 4242})
	fmt.Println(guest.WorkerInfo{Model: "reactor", Process: 0, PID: 4242})
	// Output:
	// process 3 (pid 4242)
	// thread 2.5 (pid 4242)
	// loop 0 (pid 4242)
}

func ExampleCompute() {
	start := time.Now()
	guest.Compute(20 * time.Millisecond)
	fmt.Println(time.Since(start) >= 20*time.Millisecond)
	// Output: true
}
