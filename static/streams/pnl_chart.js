// Intraday PnL per account with uPlot: drawn from the snapshot's points, extended by live "pnl" rows.
(function () {
  "use strict";
  const charts = {};
  function zoned(tz) {
    return tz ? (ts) => window.uPlot.tzDate(new Date(ts * 1e3), tz) : (ts) => new Date(ts * 1e3);
  }
  function draw() {
    const source = document.getElementById("pnl-curves");
    if (!source || !window.uPlot) return;
    const curves = JSON.parse(source.textContent);
    document.querySelectorAll(".live-chart").forEach((el) => {
      const curve = curves[el.dataset.account] || { t: [], pnl: [] };
      el.innerHTML = "";
      const width = Math.max(320, el.clientWidth || 600);
      charts[el.dataset.account] = {
        data: [curve.t.slice(), curve.pnl.slice()],
        plot: new window.uPlot(
          { title: el.dataset.code + " PnL", width: width, height: 180,
            // The axis and the legend in the desk's time zone, as every table, not the browser's.
            tzDate: zoned(el.dataset.tz),
            series: [{}, { label: "PnL", stroke: "#417690", width: 2 }] },
          [curve.t, curve.pnl], el),
      };
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("live:snapshot", draw);
  document.addEventListener("live:pnl", (ev) => {
    const p = ev.detail, chart = charts[p.account_id];
    if (!chart) return;
    chart.data[0].push(p.t);
    chart.data[1].push(p.pnl);
    chart.plot.setData(chart.data);
  });
})();
