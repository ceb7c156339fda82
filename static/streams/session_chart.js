// A trading session's equity curve with lightweight-charts, on its page (streams/session.html).
// Drawn from the points embedded in the page; each time the session's row arrives over the live
// socket (live.js's "live:row"), the row's data-bar-time and data-equity are appended at once.
// When more than one bar passed since the last point held (rows of the same session are merged
// on a busy socket), the points between are read from the API (/equity/?since=) and put in place.
// A resync reloads the page's snapshot, and the chart is drawn again from it. After a new bar the
// figures, decisions and fills below the chart are read again (?part=recent), at most once a second.
(function () {
  "use strict";
  const LWC = window.LightweightCharts;
  let current = null;
  window.sessionChart = { points: 0, last: null, updates: 0, backfills: 0, recents: 0 };
  let recentTimer = null;
  const FIT_POINTS = 500;

  function colors() {
    const css = getComputedStyle(document.documentElement);
    const pick = (name, fallback) => (css.getPropertyValue(name) || "").trim() || fallback;
    return { bg: pick("--body-bg", "#fff"), fg: pick("--body-fg", "#333"), grid: pick("--hairline-color", "#e8e8e8") };
  }

  function say(text) {
    const status = document.getElementById("session-chart-status");
    if (status) status.textContent = text;
  }

  function published() {
    const n = current.times.length;
    window.sessionChart.points = n;
    window.sessionChart.last = n ? { time: current.times[n - 1], equity: current.values[n - 1] } : null;
  }

  function draw() {
    if (current) { current.chart.remove(); current = null; }
    const el = document.getElementById("session-equity"), source = document.getElementById("session-curve");
    if (!el || !source || !LWC) return;
    const data = JSON.parse(source.textContent);
    const c = colors();
    const chart = LWC.createChart(el, { autoSize: true,
      layout: { background: { color: c.bg }, textColor: c.fg },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      timeScale: { timeVisible: +el.dataset.seconds < 86400, secondsVisible: false } });
    // Above the starting equity in green, below it in red; a line when the start is not known yet.
    const series = data.start === null
      ? chart.addSeries(LWC.LineSeries, { color: "#417690", lineWidth: 2 })
      : chart.addSeries(LWC.BaselineSeries, { baseValue: { type: "price", price: data.start }, lineWidth: 2 });
    const daily = +el.dataset.seconds >= 86400;
    current = { el, chart, series, shift: daily ? (t) => t : window.deskZoneShift(el.dataset.tz),
      seconds: +el.dataset.seconds, times: data.time.slice(), values: data.equity.slice(), fetching: false };
    series.setData(current.times.map((t, i) => ({ time: current.shift(t), value: current.values[i] })));
    chart.timeScale().fitContent();
    published();
  }

  // Put one point in time order: appended (the usual case, one update), replaced, or inserted.
  function put(time, equity) {
    const times = current.times, n = times.length;
    if (!n || time > times[n - 1]) {
      times.push(time);
      current.values.push(equity);
      current.series.update({ time: current.shift(time), value: equity });
    } else if (time === times[n - 1]) {
      current.values[n - 1] = equity;
      current.series.update({ time: current.shift(time), value: equity });
    } else {
      let i = times.findIndex((t) => t >= time);
      if (times[i] === time) current.values[i] = equity;
      else { times.splice(i, 0, time); current.values.splice(i, 0, equity); }
      current.series.setData(times.map((t, j) => ({ time: current.shift(t), value: current.values[j] })));
    }
    // A short curve stays whole in view; a long one follows its newest bars (the library's default).
    if (times.length <= FIT_POINTS) current.chart.timeScale().fitContent();
    say("");
  }

  async function backfill(since) {
    if (current.fetching) return;
    current.fetching = true;
    const chart = current;
    try {
      const resp = await fetch(`/api/v1/trading-sessions/${chart.el.dataset.session}/equity/?since=${since}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (resp.ok && chart === current) {
        for (const p of await resp.json()) put(p.time, +p.equity);
        window.sessionChart.backfills += 1;
        published();
      }
    } finally {
      chart.fetching = false;
    }
  }

  function refreshRecent() {
    if (recentTimer) return;
    recentTimer = setTimeout(async () => {
      try {
        const resp = await fetch(location.pathname + "?part=recent", { credentials: "same-origin", cache: "no-store" });
        const box = document.getElementById("session-recent");
        if (resp.ok && box) {
          box.innerHTML = await resp.text();
          window.sessionChart.recents += 1;
        }
      } finally {
        recentTimer = null;
      }
    }, 1000);
  }

  function onRow(id) {
    const row = document.getElementById(id);
    if (!current || !row || row.dataset.barTime === "" || row.dataset.equity === "") return;
    const time = +row.dataset.barTime, equity = +row.dataset.equity;
    const last = current.times.length ? current.times[current.times.length - 1] : null;
    put(time, equity);
    if (last === null || time > last) refreshRecent();
    window.sessionChart.updates += 1;
    published();
    if (last !== null && time - last > current.seconds) backfill(last);
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("live:snapshot", draw);
  document.addEventListener("live:row", (ev) => {
    const d = ev.detail;
    if (d.kind !== "session" || !current || d.id !== "session-" + current.el.dataset.session) return;
    // live.js swaps the new row in right after telling: read it once it is on the page.
    setTimeout(() => onRow(d.id), 0);
  });
})();
