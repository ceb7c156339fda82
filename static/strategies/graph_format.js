// The one conversion between Drawflow's export and the graph the server stores (React Flow's JSON):
//   {"nodes": [{"id", "type", "data": {"params": {…}}, "position": {"x", "y"}}],
//    "edges": [{"id", "source", "sourceHandle", "target", "targetHandle"}]}   handles = port names.
// Drawflow numbers its nodes and ports; each Drawflow node keeps the graph's own id and type in its
// data ({id, type, params}), and a port's class (input_2) is its index in the catalogue's port list.
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});
  const ports = ns.ports;

  function byNumber(a, b) { return Number(a) - Number(b); }

  // Drawflow's editor.export() -> a React Flow graph (nodes in creation order, edges by source port).
  function toReactFlow(exported, types) {
    const data = ((exported.drawflow || {}).Home || {}).data || {};
    const nodes = [], edges = [];
    const ids = Object.keys(data).sort(byNumber);
    for (const key of ids) {
      const n = data[key];
      nodes.push({
        id: n.data.id,
        type: n.data.type,
        data: { params: Object.assign({}, n.data.params) },
        position: { x: Math.round(n.pos_x), y: Math.round(n.pos_y) },
      });
    }
    for (const key of ids) {
      const n = data[key];
      for (const outClass of Object.keys(n.outputs || {}).sort()) {
        const out = ports.portOf(types[n.data.type], outClass);
        for (const c of n.outputs[outClass].connections) {
          const target = data[c.node];
          // Drawflow names the target's input class "output" in an output's connection list.
          const input = target && ports.portOf(types[target.data.type], c.output);
          if (!out || !input) continue;
          edges.push({
            id: `${n.data.id}.${out.name}-${target.data.id}.${input.name}`,
            source: n.data.id, sourceHandle: out.name, target: target.data.id, targetHandle: input.name,
          });
        }
      }
    }
    return { nodes, edges };
  }

  // A React Flow graph -> what the canvas draws: nodes with their port counts and wires by port class.
  // Whatever cannot be drawn (an unknown type, a port the type lacks) is listed in ``problems``; the
  // rest is drawn, so the person sees what was kept. Parameters are kept as given (even out of bounds:
  // the compiler names them).
  function fromReactFlow(graph, types) {
    const problems = [], nodes = [], wires = [], known = {};
    if (!graph || typeof graph !== "object" || !Array.isArray(graph.nodes)) {
      return { nodes, wires, problems: ["The graph must be an object with a list of nodes (and edges)."] };
    }
    for (const n of graph.nodes) {
      const type = n && types[n.type];
      if (!type || typeof n.id !== "string") {
        problems.push(`Node ${n && n.id} has an unknown type ${JSON.stringify(n && n.type)}: not drawn.`);
        continue;
      }
      if (known[n.id]) { problems.push(`Node id ${n.id} is used twice: the second is not drawn.`); continue; }
      known[n.id] = type;
      const pos = n.position || {};
      nodes.push({
        id: n.id, type: n.type, params: Object.assign({}, (n.data || {}).params),
        x: Number(pos.x) || 0, y: Number(pos.y) || 0,
      });
    }
    for (const e of Array.isArray(graph.edges) ? graph.edges : []) {
      const source = e && known[e.source], target = e && known[e.target];
      // React Flow may leave a handle out when the node has one port of that side.
      const outName = e && (e.sourceHandle || (source && source.outputs.length === 1 ? source.outputs[0].name : null));
      const inName = e && (e.targetHandle || (target && target.inputs.length === 1 ? target.inputs[0].name : null));
      const sourceClass = source && ports.classOf(source, "output", outName);
      const targetClass = target && ports.classOf(target, "input", inName);
      if (!sourceClass || !targetClass) {
        problems.push(`Edge ${e && e.id}: no port ${e && e.source}.${outName} → ${e && e.target}.${inName}; not drawn.`);
        continue;
      }
      wires.push({ source: e.source, sourceClass, target: e.target, targetClass });
    }
    return { nodes, wires, problems };
  }

  ns.graphFormat = { toReactFlow, fromReactFlow };
})();
