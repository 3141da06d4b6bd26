// The handler in the tab: the browser models, and the heartbeat that shows
// what they do to the page. The Go app (wasm/app/browser.go) drives it:
//
//   await mpmlabBrowser.start({model: "worker-pool", workers: 2, wasmURL, timeoutMs: 10000,
//                              env: {GREETING: "bonjour"}, files: {"data.json": "{}"}});
//   const r = await mpmlabBrowser.fetch("/?ms=300", {method: "GET", id: 7});
//   // r: {status, headers, body, truncated, ms, serverMs, worker, t0, t1,
//   //     startMs (a fresh instance's), error (then status is 0),
//   //     ranAt (when its handler first ran), runMs, holdMs (how long it
//   //     held its thread in all, and at most at once; see passes)}
//   const p = mpmlabBrowser.passes(); // [{lane, passes: [{t, dur, busy, n, segs: [{req: id, t, dur, where}]}], dropped}]
//   mpmlabBrowser.stop();
//
// The models, named for what they are:
//   instance-per-request  a fresh Go instance for every request, in one Web
//                         Worker: syumai/workers' own mode (its glue starts
//                         an instance per request and its Serve ends the
//                         program after the first response). Nothing
//                         survives between requests; the CGI end.
//   worker-pool           N Web Workers, each with one long-lived instance:
//                         real browser threads. A request goes to the worker
//                         with the fewest in flight (ties in turn), or to
//                         init.worker (1..N).
//   page-loop             one long-lived instance on the page's own thread:
//                         the tab's event loop is the cooperative loop, and
//                         a CPU-bound handler freezes the page.
// In the two worker models a request that runs past timeoutMs terminates
// its worker, as the host kills a worker process, and a new worker starts;
// nothing can stop a handler that never returns on the page loop. Stop
// terminates the workers; the page loop's instance is halted (goserver.js):
// it never runs again, but a handler running holds the thread until it
// yields.
//
// Each lane is one JavaScript thread — the page's, or a worker's — and
// its instances run on it one at a time: goserver.js's meter times each
// stretch an instance held the thread (a pass of the thread's loop) and
// the request it ran for (init.id). passes() hands them over, in the
// page's clock (performance.now), for the live view to draw each lane as
// the host's reactor loop is drawn.
//
// The module is compiled once per URL and kept in memory, and the worker
// code is kept as text, so once a model has started it keeps working, and
// can be restarted, when the host is gone. The heartbeat (a 10 ms timer
// and requestAnimationFrame) shows the largest gap of each over the last
// 5 s in #heartbeat (data-max-gap-ms, data-max-frame-gap-ms), and why the
// page froze when the page loop held it; it beats from a model's start
// until 5 s after its stop, and rests otherwise (data-state "rest").
"use strict";
(() => {
  const models = ["instance-per-request", "worker-pool", "page-loop"];
  const maxWorkers = 8;

  // The worker's code: fetched while the host is there (at load), started
  // from a Blob. A failed fetch is not kept: the next spawn tries again.
  let workerURLPromise = null;
  function workerURL() {
    if (!workerURLPromise) {
      const p = Promise.all(["/wasm_exec.js", "/goserver.js", "/handler-worker.js"].map((u) =>
        fetch(u).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${u}: ${r.status}`))))))
        .then((parts) => URL.createObjectURL(new Blob(parts, { type: "text/javascript" })));
      p.catch(() => { if (workerURLPromise === p) workerURLPromise = null; });
      workerURLPromise = p;
    }
    return workerURLPromise;
  }
  workerURL();

  // Compiled modules by URL (content-addressed: they never change).
  const compiled = new Map();
  function compile(url) {
    if (!compiled.has(url)) {
      const p = fetch(url).then((r) => {
        if (!r.ok) return r.text().then((t) => Promise.reject(new Error(`${url}: ${r.status} ${t}`)));
        return WebAssembly.compileStreaming(r);
      });
      p.catch(() => compiled.delete(url));
      compiled.set(url, p);
    }
    return compiled.get(url);
  }

  // A task of its own on the page's event loop (no 4 ms timer clamp).
  const task = (() => {
    const ch = new MessageChannel();
    const queue = [];
    ch.port1.onmessage = () => queue.shift()();
    return (f) => { queue.push(f); ch.port2.postMessage(0); };
  })();

  const now = () => performance.now();

  // A lane serves requests: the page loop, a worker of the pool, or the
  // worker that starts an instance per request.
  class PageLane {
    constructor(name, module, sandbox) { this.name = name; this.module = module; this.sandbox = sandbox; this.inflight = 0; this.served = 0; this.restarts = 0; this.stopped = false; }
    // takePasses: the page's thread's own meter.
    takePasses() { return mpmlabGoServer.meter.take(); }
    async start() {
      const server = mpmlabGoServer.start(this.module, { label: this.name, ...this.sandbox });
      this.server = server;
      const srv = await server;
      if (this.stopped) { srv.halt(); throw new Error(`${this.name}: stopped`); }
      srv.exited.then(() => { if (!this.stopped && lanes.includes(this)) { this.restarts++; this.start().catch(() => {}); } });
      return srv.startMs;
    }
    send(req) {
      return new Promise((resolve) => task(async () => {
        try {
          if (this.stopped) throw new Error("stopped");
          const srv = await this.server;
          const s = now();
          const p = srv.serve(req); // runs the handler until it first waits
          hold(s, now(), req);
          resolve(await p);
        } catch (err) {
          resolve({ error: this.stopped ? "stopped" : String(err.message || err) });
        }
      }));
    }
    // stop unbinds the lane (no request reaches it again; those in flight
    // answer "stopped") and halts its instance (goserver.js's halt): a Go
    // program on the page's thread cannot be terminated as a worker is —
    // main never returns and wasm has no exit hook — so halt stops
    // resuming it: its goroutines and timers never run again. A handler
    // that is running holds the thread, and stop runs after it yields.
    stop() {
      if (this.stopped) return;
      this.stopped = true;
      const server = this.server;
      this.server = null;
      if (server) server.then((srv) => srv.halt(), () => {});
    }
  }

  // A worker lane ends a request that runs past timeoutMs as the host
  // does: it terminates the worker (failing every request on it) and
  // starts another.
  class WorkerLane {
    constructor(name, module, perRequest, timeoutMs, sandbox) {
      this.name = name; this.module = module; this.perRequest = perRequest; this.timeoutMs = timeoutMs; this.sandbox = sandbox;
      this.inflight = 0; this.served = 0; this.restarts = 0; this.pending = new Map();
      this.passes = []; this.dropped = 0; // the worker's, not yet taken (epoch ms)
    }
    addPasses(p) {
      if (!p) return;
      this.passes.push(...p.passes);
      this.dropped += p.dropped;
      if (this.passes.length > 5000) this.dropped += this.passes.splice(0, 2500).length;
    }
    takePasses() {
      const out = { passes: this.passes, dropped: this.dropped };
      this.passes = []; this.dropped = 0;
      return out;
    }
    start() {
      this.ready = this.spawn();
      return this.ready;
    }
    async spawn() {
      const url = await workerURL();
      if (this.stopped) throw new Error(`${this.name}: stopped`);
      const worker = new Worker(url, { name: this.name });
      this.worker = worker;
      return new Promise((resolve, reject) => {
        let up = false;
        worker.onmessage = ({ data: m }) => {
          if (m.type === "ready") { up = true; resolve(m.startMs); }
          else if (m.type === "error") reject(new Error(`${this.name}: ${m.message}`));
          else if (m.type === "exit") this.restarts++;
          else if (m.type === "passes") this.addPasses(m.passes);
          else if (m.type === "response") { this.addPasses(m.passes); this.settle(m.id, m); }
        };
        // An uncaught error in the worker: before "ready" its start
        // failed; after, the instance broke (a wasm trap) and will answer
        // nothing, so it ends as a crash does — its requests fail now, and
        // another worker starts.
        worker.onerror = (e) => {
          const msg = `${this.name}: ${e.message || "error in the worker"}`;
          if (!up) reject(new Error(msg));
          else if (this.worker === worker && !this.stopped) this.kill(`${msg} (the worker was restarted)`);
        };
        worker.postMessage({ type: "start", module: this.module, label: this.name, perRequest: this.perRequest, ...this.sandbox });
      });
    }
    settle(id, res) {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(res);
    }
    send(req) {
      const id = ++seq;
      return new Promise((resolve) => {
        this.pending.set(id, { resolve });
        this.ready.then(() => {
          if (!this.pending.has(id)) return;
          this.worker.postMessage({ type: "request", id, ...req });
          if (this.timeoutMs > 0) {
            const what = `${req.method} ${new URL(req.url).pathname}`;
            this.pending.get(id).timer = setTimeout(() => this.kill(`${what} ran past the ${this.timeoutMs} ms timeout: ${this.name} was terminated`), this.timeoutMs);
          }
        }, (err) => this.settle(id, { error: String(err.message || err) }));
      });
    }
    // kill terminates the worker, fails its requests, and starts another.
    kill(reason) {
      this.worker.terminate();
      for (const id of [...this.pending.keys()]) this.settle(id, { error: reason });
      this.restarts++;
      this.ready = this.spawn();
      this.ready.catch(() => {});
    }
    stop() {
      this.stopped = true;
      this.worker && this.worker.terminate();
      for (const id of [...this.pending.keys()]) this.settle(id, { error: "stopped" });
    }
  }

  // hold records that the page loop held the thread from s to e serving req.
  function hold(s, e, req) {
    if (e - s < 10) return;
    const u = new URL(req.url);
    holds.push({ start: s, end: e, what: `${req.method} ${u.pathname + u.search}` });
  }

  let lanes = [];
  let model = "";
  let seq = 0;
  let turn = 0;
  const holds = []; // page loop: when a handler held the page's thread

  // env and files are the experiment's: its environment (name → value)
  // and its files (name → text), which each instance sees (goserver.js).
  async function start({ model: m, workers = 2, wasmURL, timeoutMs = 0, env = {}, files = {} }) {
    const sandbox = { env, files };
    if (!models.includes(m)) throw new Error(`model ${m}: want one of ${models.join(", ")}`);
    stop();
    wake();
    const module = await compile(wasmURL);
    const n = Math.max(1, Math.min(maxWorkers, workers | 0));
    let next;
    if (m === "page-loop") next = [new PageLane("page loop", module, sandbox)];
    else if (m === "worker-pool") next = Array.from({ length: n }, (_, i) => new WorkerLane(`worker ${i + 1}`, module, false, timeoutMs, sandbox));
    else next = [new WorkerLane("instance per request", module, true, timeoutMs, sandbox)];
    lanes = next;
    model = m;
    try {
      const startMs = await Promise.all(next.map((l) => l.start()));
      mpmlabGoServer.meter.take(); // starting is not serving
      return { model: m, lanes: next.map((l) => l.name), startMs };
    } catch (err) {
      if (lanes === next) stop();
      throw err;
    }
  }

  function stop() {
    for (const l of lanes) l.stop();
    if (lanes.length) restSoon();
    lanes = [];
    model = "";
  }

  function pick(init) {
    if (init.worker >= 1 && init.worker <= lanes.length) return lanes[init.worker - 1];
    let best = null;
    for (let k = 0; k < lanes.length; k++) {
      const l = lanes[(turn + k) % lanes.length];
      if (!best || l.inflight < best.inflight) best = l;
    }
    turn = (lanes.indexOf(best) + 1) % lanes.length;
    return best;
  }

  // fetch sends one request to the running model and resolves (never
  // rejects) with what it answered. The promise's worker property names
  // the lane it went to, at once.
  // init.id names the request in passes (a positive integer, unique in the
  // run; one is made up without it).
  let rids = 1 << 30;
  function fetch_(path, init = {}) {
    const t0 = now();
    if (!lanes.length) return Object.assign(Promise.resolve({ status: 0, error: "no browser model is running", ms: 0, t0, t1: t0, worker: "" }), { worker: "" });
    const lane = pick(init);
    return Object.assign(send(lane, path, init, t0), { worker: lane.name });
  }

  async function send(lane, path, init, t0) {
    lane.inflight++;
    const req = {
      url: new URL(path, location.origin).href,
      method: (init.method || "GET").toUpperCase(),
      headers: init.headers || {},
      body: init.body == null ? null : String(init.body),
      rid: init.id > 0 ? init.id : ++rids,
    };
    const res = await lane.send(req);
    lane.inflight--;
    lane.served++;
    const t1 = now();
    return {
      status: res.status || 0, headers: res.headers || {}, body: res.body || "", truncated: !!res.truncated,
      error: res.error || "", ms: t1 - t0, serverMs: res.serverMs || 0, startMs: res.startMs,
      worker: res.instance ? `instance ${res.instance}` : lane.name, t0, t1,
      ranAt: res.ranAt ? res.ranAt - performance.timeOrigin : 0, runMs: res.runMs || 0, holdMs: res.holdMs || 0,
    };
  }

  // passes returns each lane's passes since the last call, in the page's
  // clock: when an instance held the lane's thread, and for which request.
  function passes() {
    const o = performance.timeOrigin;
    return lanes.map((l) => {
      const p = l.takePasses();
      for (const x of p.passes) {
        x.t -= o;
        for (const sg of x.segs) sg.t -= o;
      }
      return { lane: l.name, ...p };
    });
  }

  function status() {
    return { model, lanes: lanes.map((l) => ({ name: l.name, inflight: l.inflight, served: l.served, restarts: l.restarts })) };
  }

  // The heartbeat: a 10 ms timer and requestAnimationFrame. Each records
  // the gaps between its ticks; the display shows the largest of the last
  // 5 s, and why, when the page loop held the thread. It counts once the
  // app is ready (body[data-ready]) and the page has been drawn with it (two
  // frames later): starting the app and laying out what it put on the page
  // hold the thread too, but that is the page loading, not a handler.
  const windowMs = 5000;
  const ticks = { timer: [], frame: [] }; // {t, gap}
  let framesReady = 0; // frames since the app was ready, up to 2
  function tick(kind, t) {
    if (framesReady < 2) return;
    const list = ticks[kind];
    const last = list.length ? list[list.length - 1].t : t;
    list.push({ t, gap: t - last });
    while (list.length && list[0].t < t - 2 * windowMs) list.shift();
  }
  // ticksSince counts the ticks of both kinds after since.
  function ticksSince(since) {
    return ticks.timer.filter((tk) => tk.t > since).length + ticks.frame.filter((tk) => tk.t > since).length;
  }
  function maxGapSince(since, kind = "timer") {
    return largestGap(since, kind).gap;
  }
  function largestGap(since, kind = "timer") {
    let max = { t: 0, gap: 0 };
    for (const tk of ticks[kind]) if (tk.t > since && tk.gap > max.gap) max = tk;
    return max;
  }
  // heldIn says what the page loop ran during [from, to]: the requests, and
  // for how long in all.
  function heldIn(from, to) {
    let ms = 0, n = 0;
    const what = new Set();
    for (const h of holds) {
      const d = Math.min(to, h.end) - Math.max(from, h.start);
      if (d > 0) { ms += d; n++; what.add(h.what); }
    }
    return { ms, n, what: [...what].slice(0, 3).join(", ") + (what.size > 3 ? ", …" : "") };
  }
  // frozenSince is the largest timer gap since `since` that a handler on
  // the page loop took part in (0: none): the tab frozen by a handler,
  // not by a busy machine.
  function frozenSince(since) {
    let best = 0;
    for (const tk of ticks.timer) {
      if (tk.t > since && tk.gap > best && heldIn(tk.t - tk.gap, tk.t).ms > 0) best = tk.gap;
    }
    return best;
  }
  let el = null, shown = 0;
  function show(t) {
    el = el || document.getElementById("heartbeat");
    if (!el || t - shown < 200) return;
    shown = t;
    const since = t - windowMs;
    const gap = maxGapSince(since), frame = maxGapSince(since, "frame");
    while (holds.length && holds[0].end < t - 2 * windowMs) holds.shift();
    el.dataset.maxGapMs = gap.toFixed(0);
    el.dataset.maxFrameGapMs = frame.toFixed(0);
    // The largest freeze a handler on the page loop took part in: only
    // that is the tab frozen by a handler (red). A gap with no handler in
    // it is the machine's (a host run busy on the cores, the tab drawing):
    // slow (amber), and said so.
    let best = null;
    for (const tk of ticks.timer) {
      if (tk.t <= since || tk.gap < 100 || (best && tk.gap <= best.gap)) continue;
      const held = heldIn(tk.t - tk.gap, tk.t);
      if (held.ms > 0) best = { gap: tk.gap, held };
    }
    el.dataset.state = best ? "frozen" : gap >= 40 ? "slow" : "ok";
    const beat = el.querySelector(".beat") || el;
    beat.textContent = `heartbeat: largest gap ${gap.toFixed(0)} ms (10 ms timer), ${frame.toFixed(0)} ms (frames), last 5 s`;
    const why = el.querySelector(".why");
    if (why) {
      why.textContent = best
        ? `The page froze: the page loop ran ${best.held.n > 1 ? `${best.held.n} requests (${best.held.what})` : best.held.what} on the tab's ` +
          `own thread for ${best.held.ms.toFixed(0)} ms of a ${best.gap.toFixed(0)} ms gap, and while a handler runs nothing else on that ` +
          "thread does: no timer, no frame, no click, no other request."
        : gap >= 100
        ? "No handler ran in the tab during that gap: the machine was busy (a run on the host shares its cores) or the tab was drawing."
        : "";
    }
  }
  // The heartbeat beats only while a handler can run in the tab: from a
  // model's start until windowMs after its stop, so that what it shows of
  // a run stays up. At rest the tab spends nothing on it: its timer and a
  // frame at every refresh cost an idle tab a sixth of a core here, which
  // a run on the host, measured on the same cores, would feel.
  let beating = false, restAt = 0, timer = 0;
  function wake() {
    restAt = Infinity;
    if (beating) return;
    beating = true;
    ticks.timer.length = ticks.frame.length = 0; // a rest is not a gap
    shown = 0;
    timer = setInterval(() => {
      const t = now();
      tick("timer", t);
      show(t);
      if (t >= restAt) rest();
    }, 10);
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(frame);
    }
  }
  function restSoon() { restAt = now() + windowMs; }
  function rest() {
    beating = false;
    clearInterval(timer);
    el = el || document.getElementById("heartbeat");
    if (!el) return;
    el.dataset.state = "rest";
    const beat = el.querySelector(".beat") || el;
    beat.textContent = "heartbeat: at rest (it beats while a handler runs in this tab)";
    const why = el.querySelector(".why");
    if (why) why.textContent = "";
  }
  let framePending = false; // one chain of frames, however fast it rests and wakes
  const frame = () => {
    framePending = false;
    if (!beating) return;
    if (framesReady < 2 && document.body.dataset.ready === "1") framesReady++;
    tick("frame", now());
    framePending = true;
    requestAnimationFrame(frame);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", rest);
  else rest();

  window.mpmlabBrowser = {
    models, start, stop, fetch: fetch_, status, passes,
    heartbeat: { maxGapSince, frozenSince, ticksSince, now },
  };
})();
