// A Web Worker that runs the handler (goserver.js) for the page
// (handlers.js): one long-lived Go instance (a lane of the worker pool), or
// a fresh instance for every request (instance per request, as
// syumai/workers' own glue does). The page builds it from a Blob of
// wasm_exec.js, goserver.js and this file, so starting a worker needs
// nothing from the host.
//
// Messages from the page:
//   {type: "start", module, label, perRequest, env, files}   → {type: "ready", startMs} | {type: "error", message}
//   {type: "request", id, rid, url, method, headers, body}
//       → {type: "response", id, status, headers, body, truncated, serverMs, startMs?, instance?,
//          ranAt, runMs, holdMs, passes}
//       | {type: "response", id, error, passes}
// and, every 250 ms while there are some, {type: "passes", passes}: the
// worker thread's passes (goserver.js's meter: when an instance held the
// thread, and for which request rid) since the last message, in epoch ms.
// and, from a long-lived instance that ended (a panic): {type: "exit", code},
// then {type: "ready", startMs} once its replacement is up — the worker
// respawns its instance as a master respawns a child.
"use strict";
(() => {
  let module, label, perRequest, env, files;
  let server; // Promise of the long-lived instance
  let instances = 0;

  function startLongLived() {
    server = mpmlabGoServer.start(module, { label, env, files });
    server.then((srv) => srv.exited.then((code) => {
      postMessage({ type: "exit", code });
      startLongLived().then((next) => postMessage({ type: "ready", startMs: next.startMs }), fail);
    }), () => {});
    return server;
  }

  // The meter's passes go with each response, and on their own while a
  // request runs long (a timer: it fires only when no instance holds the
  // thread, as the page loop's would).
  const passes = () => mpmlabGoServer.meter.take();
  setInterval(() => {
    const p = passes();
    if (p.passes.length || p.dropped) postMessage({ type: "passes", passes: p });
  }, 250);

  const fail = (err) => postMessage({ type: "error", message: String(err && err.message || err) });

  async function serve(m) {
    try {
      if (perRequest) {
        const n = ++instances;
        const srv = await mpmlabGoServer.start(module, { label: `instance ${n}`, perRequest: true, env, files, req: m.rid });
        const res = await srv.serve(m);
        postMessage({ type: "response", id: m.id, ...res, startMs: srv.startMs, instance: n, passes: passes() });
        return;
      }
      const res = await (await server).serve(m);
      postMessage({ type: "response", id: m.id, ...res, passes: passes() });
    } catch (err) {
      postMessage({ type: "response", id: m.id, error: String(err && err.message || err), ...mpmlabGoServer.meter.done(m.rid), passes: passes() });
    }
  }

  onmessage = ({ data: m }) => {
    if (m.type === "start") {
      ({ module, label, perRequest, env, files } = m);
      if (perRequest) {
        postMessage({ type: "ready", startMs: 0 });
        return;
      }
      startLongLived().then((srv) => postMessage({ type: "ready", startMs: srv.startMs }), fail);
    } else if (m.type === "request") {
      serve(m);
    }
  };
})();
