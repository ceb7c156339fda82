// The compiler's refusal drawn where it belongs: each problem marks its node (and the port it names)
// on the canvas, and is listed under it with its stable code. Problems naming no node (the graph's
// shape, no action at all) are listed only.
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});

  function clear(canvasElement, box, list) {
    for (const node of canvasElement.querySelectorAll(".has-problem")) {
      node.classList.remove("has-problem");
      node.removeAttribute("data-problems");
    }
    for (const port of canvasElement.querySelectorAll(".port-problem")) port.classList.remove("port-problem");
    for (const badge of canvasElement.querySelectorAll(".node-problem")) badge.remove();
    list.replaceChildren();
    box.hidden = true;
  }

  // problems: [{code, message, node, port}] from a 400 graph.refused; canvas: ns.Canvas.
  function show(canvas, problems, box, list) {
    clear(canvas.element, box, list);
    for (const p of problems) {
      const item = document.createElement("li");
      item.dataset.code = p.code;
      if (p.node) item.dataset.node = p.node;
      item.textContent = `${p.message} (${p.code}${p.node ? `, node ${p.node}` : ""}${p.port ? `, ${p.port}` : ""})`;
      list.appendChild(item);
      const node = p.node ? canvas.nodeElement(p.node) : null;
      if (!node) continue;
      node.classList.add("has-problem");
      const codes = new Set((node.dataset.problems || "").split(" ").filter(Boolean));
      codes.add(p.code);
      node.dataset.problems = [...codes].join(" ");
      const badge = document.createElement("div");
      badge.className = "node-problem";
      badge.textContent = p.code;
      badge.title = p.message;
      node.querySelector(".drawflow_content_node").appendChild(badge);
      if (p.port) {
        const port = node.querySelector(`.input[data-port="${CSS.escape(p.port)}"], .output[data-port="${CSS.escape(p.port)}"]`);
        if (port) port.classList.add("port-problem");
      }
    }
    box.hidden = problems.length === 0;
  }

  ns.problems = { show, clear };
})();
