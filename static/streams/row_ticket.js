// The order ticket rows open on every live page (streams/_row_ticket.html): a row's Buy or Sell, or the
// B and S keys for the row under the pointer or in focus (on the Market page, its chart's symbol), load
// the ticket prefilled from the row (streams:row-ticket) into a modal dialog. static/marketdata/ticket.js
// runs the ticket as on the Market page (price fields, quote, notional, remembered order type); the
// ticket posts to the Market page's ticket view, the one entry path. While the dialog is open it follows
// the symbol's quote on the market topics socket (/ws/market/, as chart.js does) and hands each quote to
// the ticket as a "market:quote" event. Enter or Ctrl+Enter places the order, Esc closes, ? shows the keys.
(function () {
  "use strict";
  const dialog = document.getElementById("row-ticket-dialog");
  const help = document.getElementById("row-ticket-help");
  const body = document.getElementById("row-ticket-body");
  const title = document.getElementById("row-ticket-title");
  let socket = null, opening = 0, target = null;
  window.rowTicket = { opened: 0, quotes: 0 };

  const ticket = () => (body ? body.querySelector("form.ticket") : null);
  const typing = (el) => !!(el && el.closest && el.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));

  function say(text) {
    body.replaceChildren();
    const p = document.createElement("p");
    p.className = "errornote";
    p.setAttribute("role", "alert");
    p.textContent = text;
    body.append(p);
  }

  function problem(text, status) {
    try {
      const answer = JSON.parse(text);
      if (answer && answer.detail) return `${answer.detail} (${answer.code})`;
    } catch (err) { /* not problem+json: Django's own page */ }
    return `The ticket could not be opened (${status}).`;
  }

  async function open(data) {
    if (!dialog || !data.symbol) return;
    const params = new URLSearchParams({ symbol: data.symbol, side: data.side || "BUY" });
    if (data.account) params.set("account", data.account);
    if (data.quantity) params.set("quantity", data.quantity);
    const type = window.tcTicket ? window.tcTicket.remembered(dialog.dataset.user) : null;
    if (type) params.set("order_type", type);
    const mine = ++opening;
    follow(null);
    body.replaceChildren();
    title.textContent = `Order ticket · ${data.symbol}`;
    if (!dialog.open) dialog.showModal();
    let response, text;
    try {
      response = await fetch(`${dialog.dataset.url}?${params}`, { credentials: "same-origin", cache: "no-store" });
      text = await response.text();
    } catch (err) {
      if (mine === opening) say("The desk did not answer; nothing was done. Try again.");
      return;
    }
    if (mine !== opening || !dialog.open) return;
    if (!response.ok) { say(problem(text, response.status)); return; }
    body.innerHTML = text;
    if (window.htmx) window.htmx.process(body);
    const form = ticket();
    if (!form) return;
    if (window.tcTicket) window.tcTicket.setUp(form);
    // The dialog's title names the symbol; the ticket's own heading is the Market page's.
    const heading = form.querySelector("h2");
    if (heading) title.textContent = heading.textContent;
    window.rowTicket.opened += 1;
    follow(form.dataset.symbol);
    const quantity = form.elements.quantity;
    (quantity && !quantity.value ? quantity : form.querySelector(".ticket-submit")).focus();
  }

  // The quote: one subscription on the market topics socket while the dialog is open. A quote is the
  // newest value, so a lost update is made good by the next one; a dropped socket subscribes again.
  function follow(symbol) {
    const old = socket;
    socket = null;
    if (old) old.close();
    if (!symbol) return;
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/market/");
    socket = ws;
    const hand = (quote) => {
      if (!quote) return;
      window.rowTicket.quotes += 1;
      document.dispatchEvent(new CustomEvent("market:quote", { detail: { symbol, ...quote } }));
    };
    ws.onopen = () => ws.send(JSON.stringify({ type: "quotes.subscribe", id: "ticket", data: { symbol } }));
    ws.onmessage = (ev) => {
      const frame = JSON.parse(ev.data);
      if (frame.type === "quotes.subscribe.response" && !frame.error) hand(frame.data.snapshot);
      else if (frame.type === "quotes.update") hand(frame.data);
    };
    ws.onclose = (ev) => {
      if (socket !== ws || ev.code === 4401 || ev.code === 4403) return;
      setTimeout(() => { if (socket === ws && dialog.open) follow(symbol); }, 1000);
    };
  }

  function rowData(button) {
    return { side: button.dataset.side, symbol: button.dataset.symbol, account: button.dataset.account, quantity: button.dataset.quantity };
  }

  // The row the keys act on: the one holding the focus, else the last one pointed at.
  function keyRow() {
    const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("tr") : null;
    if (focused && focused.querySelector(".row-trade")) return focused;
    return target ? document.getElementById(target) : null;
  }

  function keyTicket(side) {
    const row = keyRow();
    const button = row ? row.querySelector(side === "BUY" ? ".row-trade-buy" : ".row-trade-sell") : null;
    if (button) return rowData(button);
    const page = document.getElementById("ticket") || document.getElementById("market-chart");
    return page && page.dataset.symbol ? { side, symbol: page.dataset.symbol } : null;
  }

  function place() {
    const form = ticket();
    if (form) form.requestSubmit(form.querySelector(".ticket-submit"));
  }

  if (dialog) {
    // Capture: a market-watch row's own click (it opens the chart) must not see its Buy or Sell.
    document.addEventListener("click", (ev) => {
      const button = ev.target.closest ? ev.target.closest(".row-trade button") : null;
      if (!button) return;
      ev.preventDefault();
      ev.stopPropagation();
      open(rowData(button));
    }, true);
    dialog.querySelector(".row-ticket-close").addEventListener("click", () => dialog.close());
    // The close event comes as a task of its own: Esc then S at once may open the next ticket before
    // it arrives, and that ticket (the dialog open again) must not be dropped and emptied by it.
    dialog.addEventListener("close", () => {
      if (dialog.open) return;
      opening += 1;
      follow(null);
      body.replaceChildren();
    });
    document.addEventListener("mouseover", (ev) => {
      const row = ev.target.closest ? ev.target.closest("tr[id]") : null;
      if (!row || !row.querySelector(".row-trade") || row.id === target) return;
      const before = target ? document.getElementById(target) : null;
      if (before) before.classList.remove("row-trade-target");
      target = row.id;
      row.classList.add("row-trade-target");
    });
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.defaultPrevented || ev.isComposing) return;
    const inTicket = dialog && dialog.open;
    if (inTicket && ev.key === "Enter") {
      // Enter in a text field submits the form by itself; anywhere else in the ticket (a select, a
      // side), and with Ctrl anywhere, this does (and stops the browser's own, so it is sent once).
      const field = ev.target.closest && ev.target.closest("input:not([type=radio]):not([type=checkbox])");
      const control = ev.target.closest && ev.target.closest("button, a");
      if (ev.ctrlKey || ev.metaKey || (!field && !control)) { ev.preventDefault(); place(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    if (ev.key === "?") {
      ev.preventDefault();
      if (help.open) help.close(); else help.showModal();
      return;
    }
    const key = ev.key.toLowerCase();
    if (!dialog || (key !== "b" && key !== "s") || help.open) return;
    const side = key === "b" ? "BUY" : "SELL";
    ev.preventDefault();
    if (inTicket) {
      const form = ticket();
      if (form && window.tcTicket) window.tcTicket.setSide(form, side);
      return;
    }
    const data = keyTicket(side);
    if (data) open(data);
  });
})();
