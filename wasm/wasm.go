// Package wasm holds everything mpmlab compiles to WebAssembly: the guest SDK
// that handlers import (wasm/guest), the frame codec shared with the host
// (wasm/abi), the example handlers (wasm/examples) and the front-end app
// (wasm/app).
//
// This package only embeds those sources so the host binary can build
// handlers offline: the SDK is copied next to every handler build, and the
// examples feed the CLI and the playground's examples menu.
package wasm

import "embed"

// SDK is the source of the guest SDK, the codec it shares with the host and
// the thread pool its native build runs, with paths "guest/...", "abi/..."
// and "threadpool/..." (relative to this directory).
// The build pipeline writes it out under wasm/ of a stand-in module
// github.com/mpmlab/mpmlab next to each handler build.
//
//go:embed guest/*.go abi/*.go threadpool/*.go
var SDK embed.FS

// Examples holds the example handlers, one directory per example
// ("examples/hello/main.go", ...).
//
//go:embed examples
var Examples embed.FS
