// Starts mpmlab's front end: the Go program in app.wasm (wasm/app), run by
// Go's wasm_exec.js. Everything else — the editor, the controls, the live
// view — is that program. Loaded in <head>: it applies a remembered theme
// before the first paint and compiles app.wasm while the page parses.
"use strict";
(() => {
  const theme = localStorage.getItem("mpmlab-theme");
  if (theme) document.documentElement.dataset.theme = theme;

  const wasm = fetch("/app.wasm").then((resp) =>
    resp.ok
      ? WebAssembly.compileStreaming(resp)
      : resp.text().then((text) => { throw new Error(text.trim() || resp.statusText); }));
  wasm.catch(() => {}); // reported below, once the page is there
  const fail = (msg) => {
    delete document.body.dataset.ready;
    const el = document.getElementById("loading");
    el.textContent = "mpmlab " + msg;
    el.classList.add("error");
  };
  document.addEventListener("DOMContentLoaded", () => {
    const go = new Go();
    wasm
      .then((mod) => WebAssembly.instantiate(mod, go.importObject))
      .then((inst) => go.run(inst))
      .then(() => fail("stopped unexpectedly (see the browser console); reload the page"))
      .catch((err) => fail("could not start: " + err.message));
  });
})();
