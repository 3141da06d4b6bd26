// Package www holds the playground's static front end, embedded into the
// mpmlab binary: index.html, style.css, the thin JS glue app.js, the
// browser models' runtime (handlers.js, goserver.js, handler-worker.js:
// the user's handler run in the tab by syumai/workers), and the
// build output that make puts beside them: app.wasm (the Go front end,
// built from wasm/app with GOOS=js GOARCH=wasm) and wasm_exec.js (copied
// from the Go toolchain). The playground serves it (playground/static.go).
package www

import "embed"

// FS is the front end's files. app.wasm and wasm_exec.js are absent until
// `make` has built them (the pattern is "*" so that the package builds
// without them; www.go itself comes along and is not served).
//
//go:embed *
var FS embed.FS
