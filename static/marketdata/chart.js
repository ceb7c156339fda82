// The Market page's chart: candles and volume of one symbol and resolution with TradingView's
// lightweight-charts. History comes from the datafeed (/api/v1/datafeed/history, countback), then
// the live topics (/ws/market/) send bars.update; a jump in a topic's seq means updates were lost,
// so the page reloads history and subscribes again. The desk's own fills are markers
// (/api/v1/datafeed/marks), reloaded on every closed bar and whenever an order row of the
// accounts changes (live.js's "live:row": a ticket's order that fills is one of them).
(function () {
  "use strict";
  const LWC = window.LightweightCharts;
  let current = null;
  window.marketChart = { bars: 0, updates: 0, reloads: 0, marks: 0, markTexts: [], last: null };

  // Times on the axis read the desk's clock (static/streams/desk_zone.js). Daily bars are the
  // session's date at 00:00 UTC already and are left as they are.
  function colors() {
    const css = getComputedStyle(document.documentElement);
    const pick = (name, fallback) => (css.getPropertyValue(name) || "").trim() || fallback;
    return { bg: pick("--body-bg", "#fff"), fg: pick("--body-fg", "#333"), grid: pick("--hairline-color", "#e8e8e8") };
  }

  function Chart(el) {
    const symbol = el.dataset.symbol, resolution = el.dataset.resolution, seconds = +el.dataset.seconds;
    const daily = seconds >= 86400, shift = daily ? (t) => t : window.deskZoneShift(el.dataset.tz);
    // The server's clock at page load, carried forward by the browser's monotonic clock: the
    // browser's own wall clock may be wrong or in another zone.
    const loadedAt = performance.now(), serverNow = () => +el.dataset.now + (performance.now() - loadedAt) / 1e3;
    const status = document.getElementById("market-chart-status");
    const c = colors();
    const chart = LWC.createChart(el, { autoSize: true,
      layout: { background: { color: c.bg }, textColor: c.fg },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      // Room right of the newest bar for its fill marker's label.
      timeScale: { timeVisible: !daily, secondsVisible: false, rightOffset: 8 } });
    const candles = chart.addSeries(LWC.CandlestickSeries, { upColor: "#26a69a", downColor: "#ef5350",
      borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350" });
    candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.28 } });
    const volume = chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume" });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    const markers = LWC.createSeriesMarkers(candles, []);
    let times = [], firstUtc = null, ws = null, seq = {}, watchdog = null, marksTimer = null, closed = false, backoff = 500;

    function say(text, empty) {
      if (!status) return;
      status.textContent = text || "";
      status.dataset.empty = empty ? "1" : "";
    }

    function put(bar) {
      // bar: {time (UTC s), open, high, low, close, volume}; older than the newest held: skipped.
      const t = shift(bar.time), last = times[times.length - 1];
      if (last !== undefined && t < last) return false;
      const o = +bar.open, cl = +bar.close;
      candles.update({ time: t, open: o, high: +bar.high, low: +bar.low, close: cl });
      volume.update({ time: t, value: +bar.volume, color: cl >= o ? "rgba(38,166,154,0.5)" : "rgba(239,83,80,0.5)" });
      if (last === undefined || t > last) times.push(t);
      if (firstUtc === null) firstUtc = bar.time;
      if (times.length === 1 && status && status.dataset.empty) say("");
      window.marketChart.bars = times.length;
      window.marketChart.last = { time: bar.time, close: cl, closed: !!bar.closed };
      return true;
    }

    async function loadHistory() {
      const to = Math.ceil(serverNow()) + seconds;
      const url = `/api/v1/datafeed/history?symbol=${encodeURIComponent(symbol)}&resolution=${resolution}&to=${to}&countback=${el.dataset.bars}`;
      const body = await (await fetch(url, { credentials: "same-origin", cache: "no-store" })).json();
      // A resync may have replaced this chart while the answer was on its way: a removed chart's
      // series throw "Object is disposed", so a late answer is dropped.
      if (closed) return;
      if (body.s === "error") { say(`${body.errmsg} (${body.code})`); return; }
      times = []; firstUtc = null;
      candles.setData([]); volume.setData([]);
      if (body.s === "ok") body.t.forEach((t, i) => put({ time: t, open: body.o[i], high: body.h[i], low: body.l[i], close: body.c[i], volume: body.v[i] }));
      say(times.length ? "" : "No bars yet: they appear as the market trades.", !times.length);
    }

    async function loadMarks() {
      if (!times.length) return;
      const from = firstUtc, to = Math.ceil(serverNow()) + 86400;
      const resp = await fetch(`/api/v1/datafeed/marks?symbol=${encodeURIComponent(symbol)}&from=${from}&to=${to}`, { credentials: "same-origin", cache: "no-store" });
      if (!resp.ok || closed) return;
      const marks = await resp.json();
      if (closed) return;
      // A marker sits on the bar its fill happened in: the newest bar starting at or before it.
      const list = marks.map((m) => {
        const t = daily ? Math.floor(shift(m.time) / 86400) * 86400 : shift(m.time);
        let i = times.length - 1;
        while (i > 0 && times[i] > t) i -= 1;
        const bought = m.side === "BUY";
        return { time: times[i], position: bought ? "belowBar" : "aboveBar", color: bought ? "#1565c0" : "#ad1457",
          shape: bought ? "arrowUp" : "arrowDown", text: `${m.label} ${m.quantity} @ ${m.price}`, id: String(m.id) };
      }).sort((a, b) => a.time - b.time);
      markers.setMarkers(list);
      window.marketChart.marks = list.length;
      window.marketChart.markTexts = marks.map((m) => m.text);
    }

    function marksSoon() { clearTimeout(marksTimer); marksTimer = setTimeout(() => loadMarks().catch(() => {}), 300); }

    function send(type, id, data) { ws.send(JSON.stringify({ type, id, data })); }

    function alive() {
      // No frame for three heartbeats: the socket is dead whatever it says.
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ws && ws.close(), (3 * (+el.dataset.heartbeat || 5) + 1) * 1000);
    }

    function onFrame(frame) {
      alive();
      if (frame.type === "bars.subscribe.response" || frame.type === "quotes.subscribe.response") {
        if (frame.error) { say(`${frame.error.message} (${frame.error.code})`); return; }
        seq[frame.data.topic] = 0;
        if (frame.type === "bars.subscribe.response") frame.data.snapshot.forEach(put);
        else if (frame.data.snapshot) quote(frame.data.snapshot);
      } else if (frame.type === "bars.update" || frame.type === "quotes.update") {
        if (frame.seq !== (seq[frame.topic] || 0) + 1) { gap(); return; }
        seq[frame.topic] = frame.seq;
        if (frame.type === "quotes.update") { quote(frame.data); return; }
        window.marketChart.updates += 1;
        if (put(frame.data) && frame.data.closed) marksSoon();
      } else if (frame.type === "error") {
        say(`${frame.error.message} (${frame.error.code})`);
      }
    }

    function quote(q) {
      const el = document.getElementById("market-quote");
      if (el) el.textContent = `bid ${q.bid ?? "—"} · ask ${q.ask ?? "—"} · last ${q.last ?? "—"}`;
      document.dispatchEvent(new CustomEvent("market:quote", { detail: q }));
    }

    function gap() {
      // Updates were lost: a fresh history and fresh snapshots (a reconnect does both).
      window.marketChart.reloads += 1;
      ws.close();
    }

    async function connect() {
      if (closed) return;
      try { await loadHistory(); await loadMarks(); } catch (err) { say("The datafeed did not answer; retrying…"); }
      if (closed) return;
      seq = {};
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/market/");
      ws.onopen = () => {
        backoff = 500;
        send("bars.subscribe", "bars", { symbol, resolution });
        send("quotes.subscribe", "quotes", { symbol });
        alive();
      };
      ws.onmessage = (ev) => { if (!closed) onFrame(JSON.parse(ev.data)); };
      ws.onclose = (ev) => {
        clearTimeout(watchdog);
        if (closed) return;
        if (ev.code === 4401 || ev.code === 4403) { say("Signed out: reload the page."); return; }
        setTimeout(connect, backoff * (0.5 + Math.random()));
        backoff = Math.min(backoff * 2, 30000);
      };
    }

    // Dark or light, as the admin's theme switch says (it sets data-theme on <html>).
    const themes = new MutationObserver(() => {
      const k = colors();
      chart.applyOptions({ layout: { background: { color: k.bg }, textColor: k.fg },
        grid: { vertLines: { color: k.grid }, horzLines: { color: k.grid } } });
    });
    themes.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    connect();
    return {
      marks: marksSoon,
      destroy() { closed = true; themes.disconnect(); clearTimeout(watchdog); clearTimeout(marksTimer); if (ws) ws.close(); chart.remove(); },
    };
  }

  function start() {
    if (current) current.destroy();
    const el = document.getElementById("market-chart");
    current = el && LWC ? Chart(el) : null;
  }

  document.addEventListener("DOMContentLoaded", start);
  // live.js replaced #live-root (a resync): the chart's element is a new one.
  document.addEventListener("live:snapshot", start);
  document.addEventListener("live:row", (ev) => { if (current && ev.detail.kind === "order") current.marks(); });
})();
