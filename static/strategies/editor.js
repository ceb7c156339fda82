// The strategy editor page: palette by category, canvas, parameter panel, save as a new version
// (POST /api/v1/strategies/<id>/versions/: the server compiles, a refusal comes back as
// graph.refused with every problem on its node and port), templates, import and export of the
// React Flow JSON. window.strategyEditor exposes the state the browser tests read.
(function () {
  "use strict";
  const ns = window.tcStrategy;
  const root = document.getElementById("strategy-editor");
  if (!root || !ns) return;
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const catalogue = json("editor-catalogue");
  const types = ns.ports.index(catalogue);
  const templates = json("editor-templates");
  const readOnly = root.dataset.canEdit !== "true";
  const $ = (id) => document.getElementById(id);
  const status = $("editor-status");
  const problemBox = $("editor-problems"), problemList = $("editor-problem-list");
  const paramsBox = $("editor-params");
  let selected = null, lastProblems = [];
  // ``changes`` counts edits; ``kept`` is its value when the canvas last matched a saved version.
  const state = (window.strategyEditor = { saved: null, refused: 0, changes: 0, kept: 0 });
  state.dirty = () => state.changes !== state.kept;

  function tell(text, bad) {
    status.textContent = text || "";
    status.classList.toggle("errornote", Boolean(bad));
  }

  function csrf() {
    const holder = document.querySelector("[hx-headers]");
    return holder ? JSON.parse(holder.getAttribute("hx-headers"))["X-CSRFToken"] : "";
  }

  const canvas = new ns.Canvas($("editor-canvas"), types, {
    readOnly,
    onSelect(id) { selected = id; renderParams(); },
    onRefusedWire(text) { tell(`Not wired: ${text} (port.type_mismatch hint; the compiler decides)`, true); },
    onChange() { state.changes += 1; },
  });
  state.canvas = canvas;

  function renderParams() {
    const node = selected ? canvas.nodeData(selected) : null;
    if (!node) selected = null;
    for (const el of document.querySelectorAll(".drawflow-node.tc-picked")) el.classList.remove("tc-picked");
    if (node) canvas.nodeElement(selected).classList.add("tc-picked");
    ns.params.render(paramsBox, node, node && types[node.type], readOnly,
      lastProblems.filter((p) => node && p.node === node.id),
      (params) => canvas.setParams(node.id, params));
  }

  // ``saved``: the graph is a saved version (else a template or an import: an edit until saved).
  function drawGraph(graph, what, saved) {
    ns.problems.clear(canvas.element, problemBox, problemList);
    lastProblems = [];
    const skipped = canvas.draw(graph);
    state.kept = saved ? state.changes : state.changes - 1;
    tell(skipped.length ? `${what}: ${skipped.join(" ")}` : `${what}.`, skipped.length > 0);
  }

  // Palette: the catalogue by category, each entry dragged onto the canvas (HTML5 drag and drop).
  function buildPalette() {
    const box = $("editor-palette-list");
    if (!box) return;
    const categories = [];
    for (const t of catalogue) if (!categories.includes(t.category)) categories.push(t.category);
    for (const category of categories) {
      const group = document.createElement("details");
      group.open = true;
      group.className = "editor-category";
      const summary = document.createElement("summary");
      summary.textContent = category;
      group.appendChild(summary);
      for (const t of catalogue.filter((x) => x.category === category)) {
        const item = document.createElement("div");
        item.className = "editor-palette-node";
        item.draggable = true;
        item.dataset.type = t.type;
        item.textContent = t.label;
        item.title = t.description;
        item.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/plain", t.type));
        group.appendChild(item);
      }
      box.appendChild(group);
    }
    const area = canvas.element;
    area.addEventListener("dragover", (e) => e.preventDefault());
    area.addEventListener("drop", (e) => {
      e.preventDefault();
      const id = canvas.dropNode(e.dataTransfer.getData("text/plain"), e.clientX, e.clientY);
      if (id) { selected = id; renderParams(); }
    });
  }

  async function save() {
    const graph = canvas.graph();
    tell("Compiling and saving…");
    let resp;
    try {
      resp = await fetch(root.dataset.versionsUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(graph),
      });
    } catch (err) { tell(`The server did not answer; nothing was saved (${err}).`, true); return; }
    let body = {};
    try { body = await resp.json(); } catch (err) { body = {}; }
    if (resp.status === 201) {
      ns.problems.clear(canvas.element, problemBox, problemList);
      lastProblems = [];
      state.saved = body.number;
      state.kept = state.changes;
      addVersion(body);
      tell(`Saved as version ${body.number} (warm-up ${body.warmup} bars).`);
      renderParams();
      return;
    }
    if (body.code === "graph.refused" && Array.isArray(body.problems)) {
      lastProblems = body.problems;
      state.refused += 1;
      ns.problems.show(canvas, body.problems, problemBox, problemList);
      tell(`${body.detail || "The compiler refused the graph."} (graph.refused)`, true);
      renderParams();
      return;
    }
    tell(`${body.detail || resp.statusText || "Refused"} (${body.code || resp.status}); nothing was saved.`, true);
  }

  function addVersion(v) {
    const select = $("editor-version");
    for (const o of [...select.options]) if (!o.value) o.remove();
    const option = document.createElement("option");
    option.value = v.number;
    option.textContent = `v${v.number} · ${v.author || "desk"} · just now`;
    select.insertBefore(option, select.firstChild);
    select.value = String(v.number);
    root.dataset.version = v.number;
    root.dataset.versionId = v.id;
    $("editor-title-version").textContent = `version ${v.number}`;
  }

  function exportGraph() {
    const text = JSON.stringify(canvas.graph(), null, 2);
    $("editor-json").value = text;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const version = root.dataset.version ? `-v${root.dataset.version}` : "";
    link.download = `${root.dataset.strategyName}${version}.json`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function importText(text, what) {
    let graph;
    try { graph = JSON.parse(text); } catch (err) { tell(`${what} is not JSON: ${err.message} (graph.not_json)`, true); return; }
    drawGraph(graph, `${what} loaded; save it to keep it as a new version`);
  }

  function bind(id, event, handler) { const el = $(id); if (el) el.addEventListener(event, handler); }
  bind("editor-save", "click", save);
  bind("editor-export", "click", exportGraph);
  bind("editor-json-show", "click", () => { $("editor-json").value = JSON.stringify(canvas.graph(), null, 2); });
  bind("editor-json-load", "click", () => importText($("editor-json").value, "The JSON"));
  bind("editor-clear", "click", () => { canvas.clear(); state.changes += 1; ns.problems.clear(canvas.element, problemBox, problemList); tell("Cleared."); });
  bind("editor-template-load", "click", () => {
    const name = $("editor-template").value;
    if (templates[name]) drawGraph(templates[name], `Template ${name} loaded; save it to keep it as a new version`);
  });
  bind("editor-import-file", "change", (e) => {
    const file = e.target.files[0];
    if (file) file.text().then((text) => importText(text, `File ${file.name}`));
    e.target.value = "";
  });
  // Switching strategy or version reloads the page: the snapshot carries that version's graph.
  // Opening another strategy or version reloads the page: ask before unsaved edits are dropped.
  function reopen(select, keepVersion) {
    if (!readOnly && state.dirty() && !window.confirm("The canvas has unsaved changes. Open the other graph anyway?")) {
      select.value = select.dataset.was;
      return;
    }
    // A new strategy opens at its newest version: the old strategy's number means nothing there.
    if (!keepVersion) $("editor-version").disabled = true;
    document.querySelector("form.editor-picker").submit();
  }
  for (const [id, keep] of [["editor-strategy", false], ["editor-version", true]]) {
    const select = $(id);
    select.dataset.was = select.value;
    select.addEventListener("change", () => reopen(select, keep));
  }

  buildPalette();
  const initial = json("editor-graph");
  drawGraph(initial, root.dataset.version ? `Version ${root.dataset.version} loaded` : "No version yet: start from the palette or a template", true);
  state.ready = true;
})();
