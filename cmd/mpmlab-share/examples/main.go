// Command examples writes the playground's examples, as GET /api/examples
// answers them (playground.Examples), to standard output: make share-build
// puts them among the share service's static assets, which serves them at
// /api/examples, so its page offers the examples with no host.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/mpmlab/mpmlab/playground"
)

func main() {
	if err := json.NewEncoder(os.Stdout).Encode(playground.Examples()); err != nil {
		fmt.Fprintln(os.Stderr, "examples:", err)
		os.Exit(1)
	}
}
