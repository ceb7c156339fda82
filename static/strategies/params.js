// The parameter panel: the selected node's parameters as form fields, with the catalogue's bounds,
// choices and defaults. A value out of bounds is flagged here at once and kept off the node; the
// compiler checks the saved graph again (node.bad_parameter). Viewers see the fields disabled.
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The value of a field for parameter ``p``, or {error} when the browser can already tell it is wrong.
  function read(p, input) {
    if (p.kind === "bool") return { value: input.checked };
    if (p.kind === "choice") return { value: input.value };
    if (input.value.trim() === "") return { error: "a number is needed" };
    const value = Number(input.value);
    if (!Number.isFinite(value)) return { error: "a number is needed" };
    if (p.kind === "int" && !Number.isInteger(value)) return { error: "must be a whole number" };
    if ((p.min !== null && value < p.min) || (p.max !== null && value > p.max)) {
      return { error: `must be between ${p.min} and ${p.max}` };
    }
    return { value };
  }

  function field(p, value, readOnly, onValue) {
    const id = `param-${p.name}`;
    const row = el("div", { class: "form-row editor-param", "data-param": p.name });
    row.appendChild(el("label", { for: id }, p.name));
    let input;
    if (p.kind === "choice") {
      input = el("select", { id });
      for (const c of p.choices) {
        const option = el("option", { value: c }, c);
        if (c === value) option.selected = true;
        input.appendChild(option);
      }
    } else if (p.kind === "bool") {
      input = el("input", { id, type: "checkbox" });
      input.checked = Boolean(value);
    } else {
      input = el("input", { id, type: "number", min: p.min, max: p.max, step: p.kind === "int" ? 1 : "any" });
      input.value = value === undefined ? "" : value;
    }
    input.disabled = readOnly;
    const help = el("div", { class: "help" },
      `${p.kind}${p.kind === "int" || p.kind === "float" ? `, ${p.min} to ${p.max}` : ""}; default ${p.default}` +
      (p.description ? `. ${p.description}` : ""));
    const error = el("div", { class: "errornote editor-param-error", role: "alert" });
    error.hidden = true;
    input.addEventListener("change", () => {
      const got = read(p, input);
      error.hidden = !got.error;
      error.textContent = got.error ? `${p.name} ${got.error} (node.bad_parameter)` : "";
      row.classList.toggle("errors", Boolean(got.error));
      if (!got.error) onValue(p.name, got.value);
    });
    row.append(input, help, error);
    return row;
  }

  // Render the panel for ``node`` ({id, type, params}) of catalogue type ``type``; ``problems`` are the
  // compiler's problems naming this node (a parameter's name is their port).
  function render(box, node, type, readOnly, problems, onChange) {
    box.replaceChildren();
    if (!node || !type) {
      box.appendChild(el("p", { class: "help" }, "Select a node to see its parameters."));
      return;
    }
    box.appendChild(el("h3", {}, `${type.label} · ${node.id}`));
    box.appendChild(el("p", { class: "help" }, type.description));
    const params = Object.assign({}, node.params);
    if (!type.params.length) box.appendChild(el("p", { class: "help" }, "This node has no parameters."));
    for (const p of type.params) {
      const row = field(p, p.name in params ? params[p.name] : p.default, readOnly, (name, value) => {
        params[name] = value;
        onChange(Object.assign({}, params));
      });
      for (const problem of problems.filter((q) => q.port === p.name)) {
        row.classList.add("errors");
        row.appendChild(el("div", { class: "errornote" }, `${problem.message} (${problem.code})`));
      }
      box.appendChild(row);
    }
    const ports = el("p", { class: "help" },
      `Inputs: ${type.inputs.map((p) => `${p.name} (${p.kind}${p.required ? "" : ", optional"})`).join(", ") || "none"}. ` +
      `Outputs: ${type.outputs.map((p) => `${p.name} (${p.kind})`).join(", ") || "none"}.`);
    box.appendChild(ports);
  }

  ns.params = { render };
})();
