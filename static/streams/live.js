// Keeps a live page current: a snapshot (the server-rendered #live-root) plus a cursor.
// The socket delivers rows rendered by the same templates as the snapshot; any doubt (a gap,
// a reconnect, the server's "resync") reloads the snapshot and says hello with its new cursor.
// The socket carries no commands; controls are htmx POSTs with the CSRF token, and a refused
// control is said in #live-messages with the problem's detail and code.
(function () {
  "use strict";
  const root = document.getElementById("live-root");
  if (!root) return;
  const badge = document.getElementById("live-status");
  let ws = null, lastN = 0, acked = 0, ready = false, backoff = 500, resyncing = false;
  let ackTimer = null, everOpened = false;
  window.liveStats = { resyncs: 0, frames: 0, rows: 0 };

  function status(text, cls) {
    if (!badge) return;
    badge.textContent = text;
    badge.className = "live-status " + (cls || "");
  }

  function hello() {
    ws.send(JSON.stringify({ type: "hello", epoch: root.dataset.epoch, cursor: JSON.parse(root.dataset.cursor || "{}") }));
  }

  async function resync(why) {
    if (resyncing) return;
    resyncing = true;
    ready = false;
    status("resyncing…", "warn");
    try {
      const resp = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("live-root");
      if (!resp.ok || !fresh) { location.reload(); return; }
      root.innerHTML = fresh.innerHTML;
      root.dataset.epoch = fresh.dataset.epoch;
      root.dataset.cursor = fresh.dataset.cursor;
      if (window.htmx) window.htmx.process(root);
      window.liveStats.resyncs += 1;
      document.dispatchEvent(new CustomEvent("live:snapshot", { detail: { why } }));
      resyncing = false;
      if (ws && ws.readyState === WebSocket.OPEN) hello();
    } catch (err) {
      setTimeout(() => { resyncing = false; resync(why); }, 1000);
    }
  }

  function apply(rows) {
    for (const r of rows) {
      window.liveStats.rows += 1;
      if (r.kind === "pnl") { document.dispatchEvent(new CustomEvent("live:pnl", { detail: r.data })); continue; }
      // A notice is not a row of the page: toasts.js shows it (rendered by streams/rows/notice.html).
      if (r.kind === "notice") { document.dispatchEvent(new CustomEvent("live:notice", { detail: r })); continue; }
      // A page's own scripts may follow the rows too (the Market page reloads its fills on an order's change).
      document.dispatchEvent(new CustomEvent("live:row", { detail: { kind: r.kind, id: r.id, op: r.op } }));
      const existing = document.getElementById(r.id);
      if (r.op === "remove") { if (existing) existing.remove(); continue; }
      const tpl = document.createElement("template");
      tpl.innerHTML = r.html.trim();
      const el = tpl.content.firstElementChild;
      if (!el) continue;
      if (existing) {
        existing.replaceWith(el);
      } else {
        const list = root.querySelector('[data-live-list="' + r.kind + '"]');
        if (!list) continue;
        list.querySelectorAll(".live-empty").forEach((e) => e.remove());
        if (list.dataset.liveInsert === "top") list.prepend(el); else list.append(el);
        const max = parseInt(list.dataset.liveMax || "0", 10);
        while (max && list.children.length > max) list.lastElementChild.remove();
      }
      if (window.htmx) window.htmx.process(el);
      el.classList.add("live-flash");
      setTimeout(() => el.classList.remove("live-flash"), 700);
    }
  }

  function sendAck() {
    clearTimeout(ackTimer);
    ackTimer = null;
    if (ws && ws.readyState === WebSocket.OPEN && lastN > acked) {
      ws.send(JSON.stringify({ type: "ack", n: lastN }));
      acked = lastN;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + root.dataset.ws);
    window.liveSocket = ws;
    lastN = 0;
    acked = 0;
    ws.onopen = () => {
      backoff = 500;
      status("connected", "ok");
      if (everOpened) resync("reconnect"); else hello();
      everOpened = true;
    };
    ws.onmessage = (ev) => {
      const frame = JSON.parse(ev.data);
      window.liveStats.frames += 1;
      if (frame.n !== lastN + 1) { lastN = frame.n; resync("frame gap"); return; }
      lastN = frame.n;
      if (frame.t === "rows") { if (ready) apply(frame.rows); }
      else if (frame.t === "ready") { ready = true; status("live", "ok"); }
      else if (frame.t === "resync") { resync(frame.why); }
      else if (frame.t === "error") { console.warn("live socket error", frame.code, frame.detail); }
      if (lastN - acked >= 20) sendAck(); else if (!ackTimer) ackTimer = setTimeout(sendAck, 250);
    };
    ws.onclose = (ev) => {
      ready = false;
      if (ev.code === 4401 || ev.code === 4403) { status(ev.code === 4401 ? "signed out" : "not allowed", "bad"); return; }
      status("reconnecting…", "bad");
      // Backoff with jitter, 0.5 s doubling to 30 s (a 4008 "too slow" reconnects and resyncs too).
      const wait = backoff * (0.5 + Math.random());
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(connect, wait);
    };
  }

  // A refused control (a 4xx/5xx answer to an htmx POST) swaps nothing: say why, with the
  // problem's detail and code, above the page and on the row whose control was refused.
  const messages = document.getElementById("live-messages");

  function refusal(xhr) {
    try {
      const problem = JSON.parse(xhr.responseText);
      if (problem && problem.detail) return problem.detail + (problem.code ? " (" + problem.code + ")" : "");
    } catch (err) { /* not a problem+json answer: Django's CSRF or 404 page */ }
    if (xhr.status === 403) return "Refused (403): your sign-in or the page's security token is no longer valid; reload the page.";
    if (xhr.status === 404) return "Refused (404): no such object on your accounts.";
    return "Refused (" + xhr.status + " " + (xhr.statusText || "error") + ").";
  }

  function tell(text, elt) {
    if (messages) {
      const li = document.createElement("li");
      li.className = "error";
      li.textContent = text;
      messages.prepend(li);
      while (messages.children.length > 3) messages.lastElementChild.remove();
    }
    const row = elt && elt.closest ? elt.closest("tr") : null;
    if (row) { row.classList.add("live-refused"); row.title = text; }
  }

  document.addEventListener("htmx:responseError", (ev) => tell(refusal(ev.detail.xhr), ev.detail.elt));
  document.addEventListener("htmx:sendError", (ev) => tell("The desk did not answer; nothing was done. Try again.", ev.detail.elt));
  // An account flatten answers 200 with its row even when some positions were refused (no price
  // to limit at, a risk limit): the refusals come in a header and are said like a refused control.
  document.addEventListener("htmx:afterRequest", (ev) => {
    const xhr = ev.detail.xhr;
    const refused = ev.detail.successful && xhr ? xhr.getResponseHeader("X-Flatten-Refused") : null;
    if (refused) tell("Not flattened: " + refused, ev.detail.elt);
  });

  connect();
})();
