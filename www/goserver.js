// One Go HTTP server in JavaScript: a handler built for GOOS=js, whose
// guest.Serve hands its http.Handler to github.com/syumai/workers
// (pinned at v0.33.0 in go.mod). Loaded by the page (the page loop) and,
// with wasm_exec.js, inside each Web Worker (handler-worker.js).
//
//   const srv = await mpmlabGoServer.start(module, {label: "page loop"});
//   const res = await srv.serve({url, method: "GET", headers: {}, body: null});
//   // res: {status, headers, body, serverMs}; srv.startMs; srv.exited → exit code
//   srv.halt(); // ends a long-lived instance from outside (see halt)
//
// What syumai/workers needs from its loader, provided here without its own
// glue or its fork of wasm_exec.js (we run Go's own wasm_exec.js):
//   - globalThis.context.binding: the package reads it once, at init, and
//     sets binding.handleRequest(Request) → Promise<Response> on it. Its
//     wasm_exec.js variant passes a per-run context to go.run(instance, ctx)
//     through a Proxy of globalThis; ours sets globalThis.context just
//     before go.run, which runs Go's init synchronously: every instance
//     keeps the binding it saw.
//   - the wasm import workers.ready, called by workers.Ready() once the
//     handler is set.
//   - globalThis.tryCatch, which its Cloudflare sockets call.
// mpmlab's guest SDK reads globalThis.mpmlabInstancePerRequest in Serve:
// true is syumai's own Serve (the program ends after its first response),
// false is workers.ServeNonBlock + workers.Ready and a parked main: one
// long-lived instance. The label ("page loop", "worker 2") reaches
// guest.Worker() through the environment (MPMLAB_MODEL) and, for a
// long-lived instance, globalThis.mpmlabWorker.
"use strict";
globalThis.mpmlabGoServer = (() => {
  const maxBody = 1 << 20; // response bodies are cut here (as /api/try's)

  globalThis.tryCatch ??= (fn) => {
    try {
      return { result: fn() };
    } catch (error) {
      return { error };
    }
  };

  // start instantiates module and runs its main until it calls
  // workers.Ready (guest.Serve does), and resolves with the server.
  async function start(module, { label, perRequest = false }) {
    const t0 = performance.now();
    const go = new Go();
    go.env = { MPMLAB_MODEL: label };
    let code = 0;
    // A program that ends leaves its sleeping goroutines' timers set, and
    // each would throw "Go program has already exited" when it fires (an
    // uncaught error in the worker): clear them.
    const clearTimers = () => {
      for (const t of go._scheduledTimeouts?.values() ?? []) clearTimeout(t);
      go._scheduledTimeouts?.clear();
    };
    go.exit = (c) => { code = c; clearTimers(); };
    let ready;
    const isReady = new Promise((resolve) => { ready = resolve; });
    const instance = await WebAssembly.instantiate(module, {
      ...go.importObject,
      workers: { ready: () => ready() },
    });
    const binding = {};
    globalThis.context = { binding };
    globalThis.mpmlabInstancePerRequest = perRequest;
    if (!perRequest) globalThis.mpmlabWorker = label;
    const exited = go.run(instance).then(() => code);
    exited.catch(() => {});
    const early = exited.then((c) => {
      throw new Error(`the handler exited (code ${c}) before serving: does main call guest.Serve?`);
    });
    await Promise.race([isReady, early]);
    const srv = {
      label,
      startMs: performance.now() - t0,
      exited, // resolves with the exit code when the program ends
      get alive() { return !go.exited; },
      // halt ends the instance from outside, as terminate ends a worker: a
      // long-lived program never returns from main, and Go has no way to
      // stop one, so this uses wasm_exec.js's own bookkeeping — its
      // pending timers are cleared, and a callback into it (a timer, a
      // promise it awaits, an event) no longer resumes it. Its goroutines
      // never run again; exited resolves with code; the instance's memory
      // goes with the last reference to srv. It cannot interrupt Go code
      // that is running: the caller runs only once that code yields.
      halt(c = 143) {
        if (go.exited) return;
        code = c;
        clearTimers();
        go._resume = () => {};
        go.exited = true;
        delete go._inst;
        delete go._values;
        delete go._goRefCounts;
        delete go._ids;
        delete go._idPool;
        go._resolveExitPromise?.();
      },
      // serve sends one request and reads the whole response.
      async serve({ url, method = "GET", headers = {}, body = null }) {
        if (go.exited) throw new Error(`${label} has exited`);
        const s = performance.now();
        const req = new Request(url, { method, headers, body: method === "GET" || method === "HEAD" ? null : body });
        // A program that ends while serving (a panic) never answers. One
        // that ends right after its response (instance per request) has
        // finished the body first: give it a task to arrive.
        const died = exited.then((c) => new Promise((_, reject) => setTimeout(() => {
          reject(new Error(`${label} exited (code ${c}) while serving ${method} ${new URL(url).pathname}`));
        }, 0)));
        died.catch(() => {});
        // A panic inside the call ends the program before it returns: the
        // call throws, or returns nothing. Then the exit is the answer.
        const answer = (async () => binding.handleRequest(req))()
          .then((res) => res || (go.exited ? died : Promise.reject(new Error("handleRequest returned no Response"))),
            (err) => (go.exited ? died : Promise.reject(err)));
        const res = await Promise.race([answer, died]);
        const buf = await Promise.race([res.arrayBuffer(), died]);
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: new TextDecoder().decode(buf.byteLength > maxBody ? buf.slice(0, maxBody) : buf),
          truncated: buf.byteLength > maxBody,
          serverMs: performance.now() - s,
        };
      },
    };
    return srv;
  }

  return { start };
})();
