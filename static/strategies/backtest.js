// "Backtest" on the editor page: POST /api/v1/backtests/ for the version shown (the saved graph, not
// unsaved changes on the canvas), poll it until it is done, then show its metrics and its equity
// curve (uPlot). The run itself is a Celery task on the server; this only asks and watches.
(function () {
  "use strict";
  const ns = (window.tcStrategy = window.tcStrategy || {});
  const form = document.getElementById("editor-backtest");
  const root = document.getElementById("strategy-editor");
  if (!form || !root) return;
  const status = document.getElementById("backtest-status");
  const metricsBox = document.getElementById("backtest-metrics");
  const chartBox = document.getElementById("backtest-chart");
  const POLL_MS = 1000;
  const FINAL = ["done", "failed", "cancelled"];
  const SHOWN = ["total_return", "pnl", "max_drawdown", "win_rate", "profit_factor", "sharpe", "sortino", "exposure", "trade_count", "final_equity"];
  const watched = (ns.backtest = { id: null, status: null, points: 0 });

  function tell(text, bad) {
    status.textContent = text;
    status.classList.toggle("errornote", Boolean(bad));
  }

  function csrf() {
    const holder = document.querySelector("[hx-headers]");
    return holder ? JSON.parse(holder.getAttribute("hx-headers"))["X-CSRFToken"] : "";
  }

  // A DRF refusal: {detail, code} or a field's list of messages under its name.
  function refusal(body, resp) {
    if (body.detail) return `${body.detail} (${body.code || resp.status})`;
    const fields = Object.entries(body).filter(([k]) => !["type", "title", "status", "code"].includes(k));
    return `${fields.map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") || resp.statusText} (${body.code || resp.status})`;
  }

  async function request(event) {
    event.preventDefault();
    const versionId = root.dataset.versionId;
    if (!versionId) { tell("Save the graph as a version first: a backtest runs a saved version.", true); return; }
    const field = (name) => form.elements[name].value;
    const body = {
      version: Number(versionId),
      symbols: field("symbols").split(",").map((s) => s.trim().toUpperCase()).filter(Boolean),
      resolution: field("resolution"),
      start: `${field("start")}T00:00:00Z`,
      end: `${field("end")}T00:00:00Z`,
      starting_cash: field("starting_cash"),
      fee_model: field("fee_model"),
    };
    metricsBox.replaceChildren();
    chartBox.replaceChildren();
    const editor = window.strategyEditor;
    const unsaved = editor && editor.dirty() ? " (the canvas's unsaved changes are not in it)" : "";
    tell(`Queuing a backtest of version ${root.dataset.version}${unsaved}…`);
    const resp = await fetch("/api/v1/backtests/", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body),
    });
    const answer = await resp.json().catch(() => ({}));
    if (resp.status !== 201) { tell(`Backtest refused: ${refusal(answer, resp)}`, true); return; }
    watched.id = answer.id;
    watched.status = answer.status;
    poll(answer.id);
  }

  async function poll(id) {
    if (id !== watched.id) return; // a newer backtest replaced this one
    const resp = await fetch(`/api/v1/backtests/${id}/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const b = await resp.json().catch(() => ({}));
    if (!resp.ok) { tell(`Backtest ${id}: ${refusal(b, resp)}`, true); return; }
    watched.status = b.status;
    if (!FINAL.includes(b.status)) {
      tell(`Backtest ${id} ${b.status}: ${b.progress}%`);
      setTimeout(() => poll(id), POLL_MS);
      return;
    }
    if (b.status !== "done") { tell(`Backtest ${id} ${b.status}${b.error ? `: ${b.error} (${b.error_code})` : ""}.`, true); return; }
    tell(`Backtest ${id} done: version ${b.version_number} on ${b.symbols.join(", ")}.`);
    show(b.results);
  }

  function show(results) {
    const metrics = results.metrics || {};
    const list = document.createElement("dl");
    for (const key of SHOWN.filter((k) => k in metrics)) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = key.replace("_", " ");
      dd.textContent = typeof metrics[key] === "number" ? String(Math.round(metrics[key] * 10000) / 10000) : String(metrics[key]);
      dd.dataset.metric = key;
      list.append(dt, dd);
    }
    metricsBox.appendChild(list);
    const curve = results.equity_curve || { time: [], equity: [] };
    watched.points = curve.time.length;
    if (!window.uPlot || !curve.time.length) return;
    const tz = chartBox.dataset.tz;
    new window.uPlot({
      title: "Equity", width: Math.max(320, chartBox.clientWidth || 600), height: 220,
      // The axis in the desk's time zone, as the other charts, not the browser's.
      tzDate: tz ? (ts) => window.uPlot.tzDate(new Date(ts * 1e3), tz) : (ts) => new Date(ts * 1e3),
      series: [{}, { label: "Equity", stroke: "#417690", width: 2 }],
      axes: [{}, { size: 90 }], // room for six-figure equity labels
    }, [curve.time, curve.equity], chartBox);
  }

  form.addEventListener("submit", request);
})();
