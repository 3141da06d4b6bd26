// Starts mpmlab's front end: the Go program in app.wasm (wasm/app), run by
// Go's wasm_exec.js. Everything else — the editor, the controls, the live
// view — is that program. Loaded in <head>: it applies a remembered theme
// before the first paint and starts compiling app.wasm while the page
// parses.
"use strict";
(() => {
  const theme = localStorage.getItem("mpmlab-theme");
  if (theme) document.documentElement.dataset.theme = theme;

  const wasm = WebAssembly.compileStreaming(fetch("/app.wasm"));
  const fail = (err) => {
    const el = document.getElementById("loading");
    el.textContent = "mpmlab could not start: " + err;
    el.classList.add("error");
  };
  document.addEventListener("DOMContentLoaded", () => {
    const go = new Go();
    wasm
      .then((mod) => WebAssembly.instantiate(mod, go.importObject))
      .then((inst) => go.run(inst))
      .catch(fail);
  });
})();
