// A backtest's admin page: the equity curve with uPlot, the trades as markers on a price chart with lightweight-charts.
(function () {
  "use strict";
  function equityChart(data) {
    const el = document.getElementById("backtest-equity");
    if (!el || !window.uPlot) return;
    const curve = data.equity || { time: [], equity: [] };
    new window.uPlot(
      { width: Math.max(320, el.clientWidth || 800), height: 260,
        series: [{}, { label: "Equity", stroke: "#417690", width: 2 }] },
      [curve.time, curve.equity], el);
  }
  // A marker sits on a bar the series has: the last drawn bar at or before the trade's time.
  function snap(times, t) {
    let lo = 0, hi = times.length - 1;
    if (hi < 0 || t < times[0]) return times[0];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return times[lo];
  }
  function priceChart(data) {
    const el = document.getElementById("backtest-prices");
    const lib = window.LightweightCharts;
    if (!el || !lib) return;
    const p = data.prices;
    const chart = lib.createChart(el, { height: 360, timeScale: { timeVisible: true } });
    let series;
    if (p.candles) {
      series = chart.addSeries(lib.CandlestickSeries);
      series.setData(p.time.map((t, i) => ({ time: t, open: p.open[i], high: p.high[i], low: p.low[i], close: p.close[i] })));
    } else {
      series = chart.addSeries(lib.LineSeries);
      series.setData(p.time.map((t, i) => ({ time: t, value: p.close[i] })));
    }
    const markers = [];
    (data.trades || []).forEach((trade) => {
      const long = trade.side === "long";
      markers.push({ time: snap(p.time, trade.entry_time), position: long ? "belowBar" : "aboveBar",
        color: long ? "#2e7d32" : "#c62828", shape: long ? "arrowUp" : "arrowDown",
        text: (long ? "buy " : "sell ") + trade.quantity + " @ " + trade.entry_price.toFixed(2) });
      if (trade.exit_time) {
        markers.push({ time: snap(p.time, trade.exit_time), position: long ? "aboveBar" : "belowBar",
          color: "#555", shape: "circle", text: trade.exit_reason + " @ " + trade.exit_price.toFixed(2) });
      }
    });
    markers.sort((a, b) => a.time - b.time);
    lib.createSeriesMarkers(series, markers);
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", function () {
    const source = document.getElementById("backtest-chart-data");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    equityChart(data);
    priceChart(data);
  });
})();
