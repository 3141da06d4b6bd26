// Package www holds the playground's static front end, embedded into the
// mpmlab binary: the HTML, CSS and the thin JS glue that starts the Go
// front end (app.wasm, built from wasm/app by make) with Go's
// wasm_exec.js (copied from the toolchain by make).
package www

import "embed"

// FS is the front end's files. app.wasm and wasm_exec.js are build output:
// absent until `make` has run.
//
//go:embed *.html *.css *.js all:*
var FS embed.FS
