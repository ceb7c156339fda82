// The blotter's Columns menu and the place of a new live row in the page's sort.
// Columns: the hidden ones are remembered per user in localStorage and applied as hide-<key>
// classes on the table, so rows that arrive later are hidden the same way.
// Sort: the server has already dropped rows that do not match the page's filters and search
// (streams.row_frames.row_op). live.js puts a new row on top; sorted by anything but time, it is
// moved where the sort puts it (newest first among equals, as the server orders them), and a row
// that sorts below a full page leaves it. A changed row keeps its place, so that a row does not
// jump away under the pointer; sorting again (a header) puts every row in order.
(function () {
  "use strict";
  const root = document.getElementById("live-root");
  if (!root) return;

  function table() { return document.getElementById("blotter"); }
  function storageKey() { const t = table(); return "tc.blotter.columns." + (t ? t.dataset.user : ""); }

  let unsaved = null; // the choice, where localStorage is refused (a private window, a full quota)

  function hiddenColumns() {
    if (unsaved) return unsaved;
    try { return JSON.parse(localStorage.getItem(storageKey()) || "[]"); } catch (err) { return []; }
  }

  function applyColumns() {
    const t = table();
    if (!t) return;
    const hidden = new Set(hiddenColumns());
    for (const name of [...t.classList]) if (name.startsWith("hide-")) t.classList.remove(name);
    hidden.forEach((key) => t.classList.add("hide-" + key));
    root.querySelectorAll("input[data-column]").forEach((box) => { box.checked = !hidden.has(box.dataset.column); });
  }

  root.addEventListener("change", (ev) => {
    const box = ev.target;
    if (!box.matches || !box.matches("input[data-column]")) return;
    const hidden = new Set(hiddenColumns());
    if (box.checked) hidden.delete(box.dataset.column); else hidden.add(box.dataset.column);
    try { localStorage.setItem(storageKey(), JSON.stringify([...hidden])); unsaved = null; } catch (err) { unsaved = [...hidden]; }
    applyColumns();
  });

  // --- a new row's place in the sort ---------------------------------------------------------
  const NUMERIC = new Set(["qty", "filled"]);
  let arrived = [];

  function value(row, key) {
    const raw = row.dataset[key] || "";
    return NUMERIC.has(key) ? (parseFloat(raw) || 0) : raw;
  }

  function place(row, list) {
    const sort = list.dataset.blotterSort || "-time";
    const descending = sort.startsWith("-");
    const key = sort.replace(/^-/, "");
    if (key === "time") {
      // The newest order: first when newest first, last otherwise.
      if (descending) list.prepend(row); else list.append(row);
    } else {
      const mine = value(row, key);
      const before = [...list.children].find((other) => {
        if (other === row || !other.classList.contains("order")) return false;
        const theirs = value(other, key);
        // Equal keys: the newer order first, and this one is the newest.
        return descending ? mine >= theirs : mine <= theirs;
      });
      if (before) list.insertBefore(row, before); else list.append(row);
    }
    const max = parseInt(list.dataset.blotterMax || "0", 10);
    while (max && list.querySelectorAll("tr.order").length > max) list.lastElementChild.remove();
  }

  function placeArrived() {
    const list = root.querySelector('[data-live-list="order"][data-blotter-sort]');
    const ids = arrived;
    arrived = [];
    if (!list || (list.dataset.blotterSort || "-time") === "-time") return;
    for (const id of ids) {
      const row = document.getElementById(id);
      if (row && row.parentElement === list) place(row, list);
    }
  }

  // live.js tells of a row before it applies it: a row not on the page yet is new. It is placed
  // once live.js has applied the whole frame (a microtask runs after the socket's handler).
  document.addEventListener("live:row", (ev) => {
    const detail = ev.detail || {};
    if (detail.kind !== "order" || detail.op === "remove" || document.getElementById(detail.id)) return;
    if (!arrived.length) queueMicrotask(placeArrived);
    arrived.push(detail.id);
  });

  document.addEventListener("live:snapshot", applyColumns);
  applyColumns();
})();
