// The catalogue in the browser: node types by name, their ports by Drawflow's port classes
// (input_1, output_2…, numbered in the catalogue's order), and a quick kind check for new wires.
// The check is only a hint for the person drawing: the server's compiler decides (port.type_mismatch).
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});

  // Mirrors strategies/engine/nodes.py FEEDS: an output of the key's kind may feed these input kinds.
  const FEEDS = {
    number_series: ["number_series", "scalar"],
    scalar: ["scalar"],
    boolean_series: ["boolean_series"],
    signal: ["signal"],
  };

  function index(catalogue) {
    const types = {};
    for (const t of catalogue) types[t.type] = t;
    return types;
  }

  // "input_2" -> the second input port of the type; null when the class or type is unknown.
  function portOf(type, cls) {
    const match = /^(input|output)_(\d+)$/.exec(cls || "");
    if (!type || !match) return null;
    const list = match[1] === "input" ? type.inputs : type.outputs;
    return list[Number(match[2]) - 1] || null;
  }

  function classOf(type, side, name) {
    const list = side === "input" ? type.inputs : type.outputs;
    const i = list.findIndex((p) => p.name === name);
    return i < 0 ? null : `${side}_${i + 1}`;
  }

  // Why an output may not feed an input (a sentence), or "" when the kinds agree.
  function mismatch(output, input) {
    if (!output || !input) return "unknown port";
    if (!(FEEDS[output.kind] || []).includes(input.kind)) {
      return `a ${output.kind.replace("_", " ")} cannot feed a ${input.kind.replace("_", " ")} input`;
    }
    if (input.kind === "signal" && input.role !== output.role) {
      return `a ${output.role} signal cannot feed the ${input.role} input`;
    }
    return "";
  }

  ns.ports = { FEEDS, index, portOf, classOf, mismatch };
})();
