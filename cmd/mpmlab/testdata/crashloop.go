// crashloop becomes ready, then panics 50 ms later, every time it starts.
package main

import (
	"time"

	"github.com/mpmlab/mpmlab/wasm/guest"
)

func main() {
	go func() {
		time.Sleep(50 * time.Millisecond)
		panic("dies young")
	}()
	guest.Serve(nil)
}
