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
// The experiment's files and environment (start's files, env) reach the
// instance as they do under the host: os.Getenv through go.env, and a file
// system of its own (experimentFS below: the files read-only at "/", the
// working directory, and a /tmp capped at 16 MiB) through the
// globalThis.fs and globalThis.process that Go's syscall package reads
// once, at init, as syumai's binding is: start sets them just before
// go.run and puts the page's back just after.
// mpmlab's guest SDK reads globalThis.mpmlabInstancePerRequest in Serve:
// true is syumai's own Serve (the program ends after its first response),
// false is workers.ServeNonBlock + workers.Ready and a parked main: one
// long-lived instance. The label ("page loop", "worker 2") reaches
// guest.Worker() through the environment (MPMLAB_MODEL) and, for a
// long-lived instance, globalThis.mpmlabWorker.
//
// The meter (mpmlabGoServer.meter) measures when the instances held this
// thread (see meter below); serve's answer says when its handler first ran
// and how long it held the thread (ranAt, runMs, holdMs).
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

  // experimentFS is the file system of one instance, in the shape Go's
  // syscall package (fs_js.go) expects of Node's fs: the experiment's files
  // (name → text) read-only at "/", and /tmp writable up to tmpLimit
  // bytes. Errors carry Node's codes, which Go maps to its errnos (EROFS:
  // "read-only file system", ENOSPC, ENOENT...). stdout and stderr go to
  // the page's own fs (the console).
  const tmpLimit = 16 << 20;
  function experimentFS(files, console_) {
    const enc = new TextEncoder();
    const dir = () => ({ dir: true, children: new Map(), writable: false, mtimeMs: 0 });
    const root = dir();
    for (const [name, text] of Object.entries(files || {})) {
      root.children.set(name, { data: enc.encode(text), writable: false, mtimeMs: 0 });
    }
    const tmp = dir();
    tmp.writable = true;
    root.children.set("tmp", tmp);
    let used = 0;
    let ino = 1;
    const inos = new WeakMap();
    const fds = new Map();
    let nextFD = 3;
    const fail = (code) => Object.assign(new Error(code), { code });
    const parts = (path) => path.split("/").filter((p) => p && p !== ".");
    // walk resolves a clean absolute path: [node or undefined, parent, last name].
    function walk(path) {
      const ps = [];
      for (const p of parts(path)) (p === ".." ? ps.pop() : ps.push(p));
      let cur = root, parent = null, name = "";
      for (let i = 0; i < ps.length; i++) {
        if (!cur || !cur.dir) throw fail(cur ? "ENOTDIR" : "ENOENT");
        parent = cur; name = ps[i];
        cur = cur.children.get(name);
      }
      return [cur, parent, name];
    }
    function stat(n) {
      if (!inos.has(n)) inos.set(n, ++ino);
      return {
        dev: 0, ino: inos.get(n), mode: n.dir ? 0o40555 | (n.writable ? 0o200 : 0) : 0o100444 | (n.writable ? 0o200 : 0),
        nlink: 1, uid: 0, gid: 0, rdev: 0, size: n.dir ? 0 : n.data.length, blksize: 4096,
        blocks: n.dir ? 0 : Math.ceil(n.data.length / 512), atimeMs: n.mtimeMs, mtimeMs: n.mtimeMs, ctimeMs: n.mtimeMs,
        isDirectory: () => !!n.dir,
      };
    }
    const O = { O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536 };
    function open(path, flags, mode) {
      let [n, parent, name] = walk(path);
      const write = (flags & (O.O_WRONLY | O.O_RDWR | O.O_TRUNC)) !== 0;
      if (!n) {
        if (!(flags & O.O_CREAT)) throw fail("ENOENT");
        if (!parent.writable) throw fail("EROFS");
        n = { data: new Uint8Array(0), writable: true, mtimeMs: Date.now() };
        parent.children.set(name, n);
      } else if (flags & O.O_CREAT && flags & O.O_EXCL) throw fail("EEXIST");
      else if (n.dir && write) throw fail("EISDIR");
      else if (write && !n.writable) throw fail("EROFS");
      if (flags & O.O_TRUNC && !n.dir) { used -= n.data.length; n.data = new Uint8Array(0); }
      const fd = nextFD++;
      fds.set(fd, { n, pos: 0, write, append: !!(flags & O.O_APPEND) });
      return fd;
    }
    function file(fd) { const f = fds.get(fd); if (!f) throw fail("EBADF"); return f; }
    function writeTo(f, buf, offset, length, position) {
      const n = f.n;
      if (n.dir) throw fail("EISDIR");
      if (!n.writable) throw fail("EROFS");
      if (!f.write) throw fail("EBADF");
      let at = f.append ? n.data.length : (position ?? f.pos);
      const end = at + length;
      if (end > n.data.length) {
        if (used + end - n.data.length > tmpLimit) throw fail("ENOSPC");
        used += end - n.data.length;
        const data = new Uint8Array(end);
        data.set(n.data);
        n.data = data;
      }
      n.data.set(buf.subarray(offset, offset + length), at);
      n.mtimeMs = Date.now();
      if (position == null) f.pos = end;
      return length;
    }
    function remove(path, wantDir) {
      const [n, parent, name] = walk(path);
      if (!n) throw fail("ENOENT");
      if (!parent || !parent.writable || !n.writable) throw fail("EROFS");
      if (wantDir && !n.dir) throw fail("ENOTDIR");
      if (!wantDir && n.dir) throw fail("EISDIR");
      if (wantDir && n.children.size) throw fail("ENOTEMPTY");
      parent.children.delete(name);
      if (!n.dir) used -= n.data.length;
    }
    // Each call answers through a Node-style callback.
    const ops = {
      open, close: (fd) => { file(fd); fds.delete(fd); },
      fstat: (fd) => stat(file(fd).n),
      stat: (path) => { const [n] = walk(path); if (!n) throw fail("ENOENT"); return stat(n); },
      read: (fd, buf, offset, length, position) => {
        const f = file(fd);
        if (f.n.dir) throw fail("EISDIR");
        const at = position ?? f.pos;
        const chunk = f.n.data.subarray(Math.min(at, f.n.data.length), Math.min(at + length, f.n.data.length));
        buf.set(chunk, offset);
        if (position == null) f.pos = at + chunk.length;
        return chunk.length;
      },
      write: (fd, buf, offset, length, position) => {
        if (fd === 1 || fd === 2) return console_.writeSync(fd, buf.subarray(offset, offset + length));
        return writeTo(file(fd), buf, offset, length, position);
      },
      readdir: (path) => { const [n] = walk(path); if (!n) throw fail("ENOENT"); if (!n.dir) throw fail("ENOTDIR"); return [...n.children.keys()].sort(); },
      mkdir: (path) => {
        const [n, parent, name] = walk(path);
        if (n) throw fail("EEXIST");
        if (!parent.writable) throw fail("EROFS");
        const d = dir(); d.writable = true; d.mtimeMs = Date.now();
        parent.children.set(name, d);
      },
      unlink: (path) => remove(path, false),
      rmdir: (path) => remove(path, true),
      rename: (from, to) => {
        const [n, p1, name1] = walk(from);
        const [m, p2, name2] = walk(to);
        if (!n) throw fail("ENOENT");
        if (!p1 || !p2 || !p1.writable || !p2.writable || !n.writable) throw fail("EROFS");
        if (m && !m.dir) used -= m.data.length;
        p1.children.delete(name1);
        p2.children.set(name2, n);
      },
      ftruncate: (fd, size) => {
        const f = file(fd);
        if (!f.n.writable) throw fail("EROFS");
        if (size > f.n.data.length && used + size - f.n.data.length > tmpLimit) throw fail("EFBIG");
        used += size - f.n.data.length;
        const data = new Uint8Array(size);
        data.set(f.n.data.subarray(0, size));
        f.n.data = data;
      },
      fsync: (fd) => { file(fd); },
      readlink: (path) => { const [n] = walk(path); throw fail(n ? "EINVAL" : "ENOENT"); },
    };
    ops.lstat = ops.stat;
    ops.truncate = (path, size) => { const fd = open(path, O.O_WRONLY, 0); try { ops.ftruncate(fd, size); } finally { fds.delete(fd); } };
    const fs = { constants: O, writeSync: (fd, buf) => console_.writeSync(fd, buf) };
    for (const [name, fn] of Object.entries(ops)) {
      fs[name] = (...args) => {
        const cb = args.pop();
        let result;
        try { result = fn(...args); } catch (err) { cb(err.code ? err : fail("EIO")); return; }
        cb(null, result);
      };
    }
    for (const name of ["chmod", "fchmod", "chown", "fchown", "lchown", "utimes", "link", "symlink"]) {
      fs[name] = (...args) => args.pop()(fail(name.includes("link") ? "EPERM" : "EROFS"));
    }
    return fs;
  }

  // The thread's meter. A Go program on a JavaScript thread runs only when
  // JavaScript calls into it — go.run, and go._resume, which every entry
  // goes through: a js.FuncOf callback (handleRequest, a promise it awaits,
  // a body's pull) and a timer it set (time.Sleep) — and each call returns
  // once all its goroutines wait (runtime.handleEvent). Such a call is a
  // pass of the thread's loop, as the host's reactor reports them from
  // poll_oneoff: the instance held the thread from its start to its end,
  // and nothing else on the thread ran. The meter times the outermost
  // calls (a callback Go's own call into JavaScript triggers is part of
  // it) and names the request each ran for: the one whose handleRequest
  // entered the program, else the instance's only request in flight; with
  // several in flight, a pass a timer or a promise woke is the instance's
  // and no one request's (the pass is drawn, not its holder). Instances on
  // one thread (instance per request) share its meter: one runs at a time.
  //
  // Times are epoch ms (performance.timeOrigin + now), the same clock on
  // the page and in every worker. Passes shorter than 1 ms that follow
  // each other within 1 ms merge (n of them, busy their summed length;
  // their stretches under 0.1 ms are left out), as the host's do.
  const clock = () => performance.timeOrigin + performance.now();
  const maxPasses = 5000;
  const meter = {
    depth: 0,
    entering: 0, // the request whose handleRequest is being called
    passes: [], // {t, dur, busy, n, segs: [{req, t, dur, where}]}
    dropped: 0,
    reqs: new Map(), // request → {ran: first stretch, run: summed, hold: longest}
    // run calls fn as one pass of the thread, for the request who() names
    // (0: none known).
    run(fn, who, where = "") {
      if (this.depth > 0) return fn();
      const req = this.entering || who();
      this.depth++;
      const t = clock();
      try {
        return fn();
      } finally {
        this.depth--;
        this.record(t, clock() - t, req, where);
      }
    },
    record(t, dur, req, where) {
      if (req) {
        const m = this.reqs.get(req) || { ran: t, run: 0, hold: 0 };
        m.run += dur;
        m.hold = Math.max(m.hold, dur);
        this.reqs.set(req, m);
      }
      const seg = req ? { req, t, dur, where } : null;
      const last = this.passes[this.passes.length - 1];
      if (last && last.short && dur < 1 && t - (last.t + last.dur) < 1) {
        last.dur = t + dur - last.t;
        last.busy += dur;
        last.n++;
        if (seg && dur >= 0.1) last.segs.push(seg);
        return;
      }
      this.passes.push({ t, dur, busy: dur, n: 1, short: dur < 1, segs: seg ? [seg] : [] });
      if (this.passes.length > maxPasses) this.dropped += this.passes.splice(0, maxPasses / 2).length;
    },
    // take returns the passes recorded since the last take.
    take() {
      const out = { passes: this.passes, dropped: this.dropped };
      this.passes = [];
      this.dropped = 0;
      return out;
    },
    // done returns a request's timing and forgets it.
    done(req) {
      const m = this.reqs.get(req);
      this.reqs.delete(req);
      return m ? { ranAt: m.ran, runMs: m.run, holdMs: m.hold } : {};
    },
  };

  // start instantiates module and runs its main until it calls
  // workers.Ready (guest.Serve does), and resolves with the server.
  //
  // req, for an instance started for one request, is that request: the
  // time its main takes to start holds the thread for it.
  async function start(module, { label, perRequest = false, env = {}, files = null, req = 0 }) {
    const t0 = performance.now();
    const go = new Go();
    go.env = { ...env, MPMLAB_MODEL: label };
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
    const inflight = new Set(); // the requests being served
    const only = () => (inflight.size === 1 ? inflight.values().next().value : 0);
    const resume = go._resume;
    go._resume = () => meter.run(() => resume.call(go), only);
    const binding = {};
    globalThis.context = { binding };
    globalThis.mpmlabInstancePerRequest = perRequest;
    if (!perRequest) globalThis.mpmlabWorker = label;
    const page = { fs: globalThis.fs, process: globalThis.process };
    globalThis.fs = experimentFS(files, page.fs);
    globalThis.process = Object.assign(Object.create(page.process), { cwd: () => "/", chdir() { throw Object.assign(new Error("ENOSYS"), { code: "ENOSYS" }); } });
    let exited;
    try {
      // Go's init reads fs and process.
      exited = meter.run(() => go.run(instance), () => req, req ? "instance start" : "").then(() => code);
    } finally {
      globalThis.fs = page.fs;
      globalThis.process = page.process;
    }
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
      // rid names the request to the meter (a number, unique on the
      // thread); the answer says when its handler first ran (ranAt, epoch
      // ms), how long it held the thread in all (runMs) and at most at
      // once (holdMs).
      async serve({ url, method = "GET", headers = {}, body = null, rid = 0 }) {
        if (go.exited) throw new Error(`${label} has exited`);
        if (rid) inflight.add(rid);
        try {
          return { ...(await this.serveOne({ url, method, headers, body, rid })), ...meter.done(rid) };
        } finally {
          inflight.delete(rid);
          meter.done(rid);
        }
      },
      async serveOne({ url, method, headers, body, rid }) {
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
        const answer = (async () => {
          meter.entering = rid;
          try {
            return binding.handleRequest(req);
          } finally {
            meter.entering = 0;
          }
        })()
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

  return { start, meter };
})();
