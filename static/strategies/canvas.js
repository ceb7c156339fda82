// The canvas: a Drawflow editor drawing strategy nodes with named, typed ports. It owns the mapping
// between the graph's node ids (strings the server keeps) and Drawflow's numbers, and refuses a new
// wire the port kinds cannot take (a hint; the compiler decides). Nothing here talks to the server.
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});
  const PORT_ROW = 22; // px per port row, so a five-output Bar node shows every port label

  function escape(text) {
    const div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }

  // new Canvas(element, types, {readOnly, onSelect(id), onRefusedWire(text), onChange()})
  function Canvas(element, types, options) {
    this.types = types;
    this.options = options;
    this.editor = new window.Drawflow(element);
    this.editor.reroute = false;
    this.editor.start();
    this.editor.editor_mode = options.readOnly ? "view" : "edit";
    this.drawing = false; // set while a graph is drawn: its wires are drawn as they are, mismatches included
    this.element = element;
    const editor = this.editor;
    editor.on("connectionCreated", (c) => this._checkWire(c));
    for (const event of ["nodeRemoved", "connectionRemoved", "nodeMoved"]) {
      editor.on(event, () => { if (!this.drawing) options.onChange(); });
    }
    editor.on("nodeRemoved", () => options.onSelect(null));
    // Drawflow selects nodes only in edit mode; a viewer still reads a node's parameters by clicking it.
    element.addEventListener("click", (event) => {
      const node = event.target.closest(".drawflow-node");
      if (node) options.onSelect(this.graphId(node.id.replace("node-", "")));
    });
  }

  Canvas.prototype.graphId = function (dfId) {
    const node = this.editor.drawflow.drawflow.Home.data[dfId];
    return node ? node.data.id : null;
  };

  Canvas.prototype.dfId = function (graphId) {
    const data = this.editor.drawflow.drawflow.Home.data;
    return Object.keys(data).find((k) => data[k].data.id === graphId) || null;
  };

  Canvas.prototype.nodeElement = function (graphId) {
    const dfId = this.dfId(graphId);
    return dfId ? document.getElementById(`node-${dfId}`) : null;
  };

  Canvas.prototype.nodeData = function (graphId) {
    const dfId = this.dfId(graphId);
    return dfId ? this.editor.getNodeFromId(dfId).data : null;
  };

  Canvas.prototype.setParams = function (graphId, params) {
    const data = this.nodeData(graphId);
    this.editor.updateNodeDataFromId(this.dfId(graphId), Object.assign({}, data, { params }));
    this.options.onChange();
  };

  // A fresh id for a node of ``type``: "ema_1", "ema_2"…
  Canvas.prototype.freshId = function (type) {
    for (let i = 1; ; i++) if (!this.dfId(`${type}_${i}`)) return `${type}_${i}`;
  };

  Canvas.prototype.addNode = function (node) {
    const type = this.types[node.type];
    const html = `<div class="node-title">${escape(type.label)}</div><div class="node-id">${escape(node.id)}</div>`;
    const dfId = this.editor.addNode(node.type, type.inputs.length, type.outputs.length, node.x, node.y,
      `tc-node tc-${node.type}`, { id: node.id, type: node.type, params: node.params }, html);
    const el = document.getElementById(`node-${dfId}`);
    el.dataset.nodeId = node.id;
    el.dataset.category = type.category;
    el.style.minHeight = `${Math.max(type.inputs.length, type.outputs.length, 1) * PORT_ROW + 24}px`;
    type.inputs.forEach((p, i) => this._label(el.querySelector(`.inputs .input_${i + 1}`), p, p.required));
    type.outputs.forEach((p, i) => this._label(el.querySelector(`.outputs .output_${i + 1}`), p, false));
    if (!this.drawing) this.options.onChange();
    return dfId;
  };

  Canvas.prototype._label = function (el, port, required) {
    el.dataset.port = port.name;
    el.dataset.kind = port.kind;
    el.title = `${port.name}: ${port.kind}${port.role ? ` (${port.role})` : ""}${required ? ", required" : ""}`;
  };

  // Drop a palette node at a point of the page (clientX/Y), with the catalogue's defaults.
  Canvas.prototype.dropNode = function (typeName, clientX, clientY) {
    const type = this.types[typeName];
    if (!type) return null;
    const rect = this.editor.precanvas.getBoundingClientRect();
    const zoom = this.editor.zoom;
    const params = {};
    for (const p of type.params) params[p.name] = p.default;
    const id = this.freshId(typeName);
    this.addNode({ id, type: typeName, params, x: (clientX - rect.x) / zoom, y: (clientY - rect.y) / zoom });
    return id;
  };

  Canvas.prototype._checkWire = function (c) {
    if (this.drawing) return;
    const data = this.editor.drawflow.drawflow.Home.data;
    const source = data[c.output_id], target = data[c.input_id];
    const out = ns.ports.portOf(this.types[source.data.type], c.output_class);
    const input = ns.ports.portOf(this.types[target.data.type], c.input_class);
    let why = ns.ports.mismatch(out, input);
    if (!why && target.inputs[c.input_class].connections.length > 1) why = `${input.name} already has a source`;
    if (why) {
      this.editor.removeSingleConnection(c.output_id, c.input_id, c.output_class, c.input_class);
      this.options.onRefusedWire(`${source.data.id}.${out ? out.name : "?"} → ${target.data.id}.${input ? input.name : "?"}: ${why}.`);
      return;
    }
    this.options.onChange();
  };

  Canvas.prototype.clear = function () {
    this.editor.clear();
    this.options.onSelect(null);
  };

  // Replace the canvas with ``graph`` (React Flow's JSON); returns what could not be drawn.
  Canvas.prototype.draw = function (graph) {
    const plan = ns.graphFormat.fromReactFlow(graph, this.types);
    this.drawing = true;
    try {
      this.clear();
      const dfIds = {};
      for (const n of plan.nodes) dfIds[n.id] = this.addNode(n);
      for (const w of plan.wires) this.editor.addConnection(dfIds[w.source], dfIds[w.target], w.sourceClass, w.targetClass);
    } finally {
      this.drawing = false;
    }
    this.fit();
    return plan.problems;
  };

  // Move the view (not the nodes: their positions are the graph's) so the top-left node sits near the
  // canvas's corner; a template's nodes may stand at negative positions, off the visible area.
  Canvas.prototype.fit = function () {
    const nodes = Object.values(this.editor.drawflow.drawflow.Home.data);
    if (!nodes.length) return;
    const editor = this.editor;
    const minX = Math.min(...nodes.map((n) => n.pos_x)), minY = Math.min(...nodes.map((n) => n.pos_y));
    editor.canvas_x = 30 - minX * editor.zoom;
    editor.canvas_y = 30 - minY * editor.zoom;
    editor.precanvas.style.transform = `translate(${editor.canvas_x}px, ${editor.canvas_y}px) scale(${editor.zoom})`;
  };

  Canvas.prototype.graph = function () {
    return ns.graphFormat.toReactFlow(this.editor.export(), this.types);
  };

  ns.Canvas = Canvas;
})();
