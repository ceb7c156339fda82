// The order ticket, wherever it is: beside the Market page's chart (#ticket) and in the dialog a row's
// Buy or Sell opens on every live page (#row-ticket, static/streams/row_ticket.js). It shows the price
// fields the order type takes, shows the live quote ("market:quote" events: chart.js's, or the dialog's
// own subscription) and prefills the prices from it (the ask to buy, the bid to sell, else the last)
// until the person types a price, shows the notional, and defaults a fresh ticket to the order type of
// the person's last entered order (kept in this browser per user). The ticket itself is a server form
// posted by htmx (streams/_ticket.html); every rule is the order entry service's, none is checked here.
(function () {
  "use strict";
  // Loaded by the Market page and by the row ticket's dialog: one copy runs.
  if (window.tcTicket) return;
  const quotes = {};
  let held = null;

  const tickets = () => Array.from(document.querySelectorAll("form.ticket"));
  const pageTicket = () => document.getElementById("ticket");
  const formOf = (el) => (el && el.closest ? el.closest("form.ticket") : null);
  const side = (form) => (form.querySelector("input[name=side]:checked") || {}).value || "BUY";
  const quoteOf = (form) => quotes[form.dataset.symbol] || null;
  // Per user: two people sharing a browser keep their own.
  const typeKey = (user) => `tc:ticket:order-type:${user || ""}`;

  function reference(form) {
    const quote = quoteOf(form);
    if (!quote) return null;
    const wanted = side(form) === "BUY" ? quote.ask : quote.bid;
    return wanted ?? quote.last ?? null;
  }

  function showPrices(form) {
    const prices = JSON.parse(form.dataset.orderTypes || "{}")[form.elements.order_type.value] || [];
    for (const name of ["limit_price", "stop_price"]) {
      const row = form.querySelector(`[data-field=${name}]`);
      // A price the type does not take is hidden and not sent (the service would refuse it).
      if (row) row.hidden = !prices.includes(name);
      if (form.elements[name]) form.elements[name].disabled = !prices.includes(name);
    }
    return prices;
  }

  function prefill(form) {
    const price = reference(form);
    if (price === null) return;
    for (const name of showPrices(form)) {
      const input = form.elements[name];
      // A price typed here, or sent back by the server (its value attribute: a refusal, the ticket
      // after an entry), is the person's and stays; only an empty ticket follows the quote.
      if (input && !input.dataset.typed && !input.defaultValue) input.value = price;
    }
  }

  function showQuote(form) {
    const quote = quoteOf(form);
    const box = form.querySelector(".ticket-quote");
    if (!box || !quote) return;
    for (const name of ["bid", "ask", "last"]) {
      const out = box.querySelector(`[data-quote=${name}]`);
      if (out) out.textContent = quote[name] ?? "—";
    }
    const at = box.querySelector("[data-quote=at]");
    // The quote's own time (epoch ms), on the desk's clock when the page names its zone.
    if (at && quote.ts) {
      const zone = form.dataset.tz;
      const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
      try { at.textContent = "at " + new Date(quote.ts).toLocaleTimeString("en-GB", zone ? { ...options, timeZone: zone } : options); }
      catch (err) { at.textContent = "at " + new Date(quote.ts).toLocaleTimeString("en-GB", options); }
      at.dataset.ts = String(quote.ts);
    }
    box.dataset.live = "1";
  }

  function notional(form) {
    const out = form.querySelector(".ticket-notional output");
    if (!out) return;
    const prices = showPrices(form);
    // The price the order would trade at: its limit, else its stop, else (market) the quote.
    const field = prices.includes("limit_price") ? "limit_price" : prices.includes("stop_price") ? "stop_price" : null;
    const price = field ? parseFloat(form.elements[field].value) : parseFloat(reference(form));
    const qty = parseFloat(form.elements.quantity.value);
    const value = qty * price;
    out.textContent = Number.isFinite(value) ? value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "—";
    out.dataset.value = Number.isFinite(value) ? value.toFixed(2) : "";
  }

  function remembered(user) {
    try { return localStorage.getItem(typeKey(user)); } catch (err) { return null; }
  }

  function setUp(form) {
    const entered = form.querySelector(".ticket-note[data-order-type]");
    if (entered && !entered.dataset.remembered) {
      try { localStorage.setItem(typeKey(form.dataset.user), entered.dataset.orderType); } catch (err) { /* private mode: not kept */ }
      entered.dataset.remembered = "1";
    }
    // A fresh ticket starts at the order type of the person's last entered order; one the server
    // sent back (a refusal, the confirmation step) keeps what the person chose.
    if (form.dataset.fresh && !form.dataset.typeApplied) {
      const type = remembered(form.dataset.user), select = form.elements.order_type;
      if (type && select && Array.from(select.options).some((o) => o.value === type)) select.value = type;
      form.dataset.typeApplied = "1";
    }
    refresh(form);
  }

  function refresh(form) {
    showQuote(form);
    prefill(form);
    notional(form);
  }

  document.addEventListener("market:quote", (ev) => {
    const quote = ev.detail || {};
    // A quote names its symbol (the market topics' quote data); one that does not is the page's.
    const symbol = quote.symbol || (pageTicket() || { dataset: {} }).dataset.symbol;
    if (!symbol) return;
    quotes[symbol] = quote;
    for (const form of tickets()) if (form.dataset.symbol === symbol) refresh(form);
  });
  document.addEventListener("input", (ev) => {
    const form = formOf(ev.target);
    if (!form) return;
    if (ev.target.name === "limit_price" || ev.target.name === "stop_price") ev.target.dataset.typed = "1";
    notional(form);
  });
  document.addEventListener("change", (ev) => {
    const form = formOf(ev.target);
    if (!form) return;
    if (ev.target.name === "side" || ev.target.name === "order_type") prefill(form);
    notional(form);
  });
  document.addEventListener("DOMContentLoaded", () => { held = pageTicket(); tickets().forEach(setUp); });
  // htmx:load fires for the ticket htmx swapped in (and bubbles, unlike the swapped-out form's events).
  document.addEventListener("htmx:load", () => { held = pageTicket(); tickets().forEach(setUp); });
  // live.js's resync re-renders the page: the ticket the person was filling in (and its client
  // order id) is put back in place of the blank one, so a resync never changes an order.
  document.addEventListener("live:snapshot", () => {
    const fresh = pageTicket();
    if (fresh && held && fresh !== held) fresh.replaceWith(held);
    tickets().forEach(refresh);
  });
  // The row ticket's dialog sets up the ticket it loaded, and switches its side (the B and S keys).
  window.tcTicket = {
    setUp,
    remembered,
    setSide(form, value) {
      const radio = form.querySelector(`input[name=side][value=${value}]`);
      if (radio && !radio.checked) { radio.checked = true; refresh(form); }
    },
  };
})();
