// Market watch's watchlist: search symbols (the datafeed's search: the desk's instruments, then the
// broker's matches), add one (POST /api/v1/watchlist/: a symbol the desk does not know yet becomes
// an instrument from the broker's contract details), take one off, and click a row to chart it.
// After a change the page reloads: the live socket's quote groups are fixed when it connects.
(function () {
  "use strict";
  const box = document.getElementById("watchlist");
  if (!box) return;
  const input = document.getElementById("watch-search");
  const results = document.getElementById("watch-results");
  const error = document.getElementById("watch-error");
  let timer = null, asked = 0;

  function csrf() {
    const holder = document.querySelector("[hx-headers]");
    return holder ? JSON.parse(holder.getAttribute("hx-headers"))["X-CSRFToken"] : "";
  }

  function tell(text) { error.textContent = text || ""; error.hidden = !text; }

  async function refusal(resp) {
    // problem+json {detail, code} from the API; UDF {errmsg, code} from the datafeed.
    try {
      const body = await resp.json();
      const text = body.detail || body.errmsg || resp.statusText;
      return body.code ? `${text} (${body.code})` : text;
    } catch (err) { return `Refused (${resp.status}).`; }
  }

  async function change(method, url, body) {
    tell("");
    const resp = await fetch(url, { method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: body ? JSON.stringify(body) : undefined });
    if (resp.ok) { location.reload(); return; }
    tell(await refusal(resp));
  }

  async function search(text) {
    const mine = ++asked;
    const resp = await fetch(`/api/v1/datafeed/search?query=${encodeURIComponent(text)}&limit=10`, { credentials: "same-origin" });
    if (mine !== asked) return; // an answer to an older query
    results.innerHTML = "";
    if (!resp.ok) { tell(await refusal(resp)); return; }
    for (const found of await resp.json()) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "watch-result";
      button.dataset.symbol = found.symbol;
      button.textContent = `${found.symbol} — ${found.description || ""} ${found.exchange ? "(" + found.exchange + ")" : ""}`;
      li.append(button);
      results.append(li);
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (!text) { results.innerHTML = ""; return; }
    timer = setTimeout(() => search(text).catch(() => tell("The search did not answer; try again.")), 250);
  });
  document.getElementById("watch-add").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const symbol = input.value.trim().toUpperCase();
    if (symbol) change("POST", "/api/v1/watchlist/", { symbol }).catch(() => tell("The desk did not answer; nothing was changed."));
  });
  box.addEventListener("click", (ev) => {
    const found = ev.target.closest(".watch-result");
    const remove = ev.target.closest(".watch-remove");
    if (found) change("POST", "/api/v1/watchlist/", { symbol: found.dataset.symbol }).catch(() => tell("The desk did not answer; nothing was changed."));
    if (remove) change("DELETE", `/api/v1/watchlist/${encodeURIComponent(remove.dataset.symbol)}/`).catch(() => tell("The desk did not answer; nothing was changed."));
  });
  // Rows are replaced as quotes arrive, so the click is taken on the table, not on each row.
  document.getElementById("live-root").addEventListener("click", (ev) => {
    const row = ev.target.closest("tr.quote[data-symbol]");
    if (row) location.href = `${box.dataset.chartUrl}?symbol=${encodeURIComponent(row.dataset.symbol)}`;
  });
})();
