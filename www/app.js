// Starts the Go front end (app.wasm).
