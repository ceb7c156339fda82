// The Market page's order ticket: shows the price fields the order type takes, prefills them from
// the live quote (chart.js's "market:quote": the ask to buy, the bid to sell, else the last) until
// the person types a price, and shows the notional. The ticket itself is a server form posted by
// htmx (streams/_ticket.html); every rule is the order entry service's, none is checked here.
(function () {
  "use strict";
  let quote = null;

  const ticket = () => document.getElementById("ticket");
  const side = (form) => (form.querySelector("input[name=side]:checked") || {}).value || "BUY";

  function reference(form) {
    if (!quote) return null;
    const wanted = side(form) === "BUY" ? quote.ask : quote.bid;
    return wanted ?? quote.last ?? null;
  }

  function showPrices(form) {
    const prices = JSON.parse(form.dataset.orderTypes || "{}")[form.elements.order_type.value] || [];
    for (const name of ["limit_price", "stop_price"]) {
      const row = form.querySelector(`[data-field=${name}]`);
      if (row) row.hidden = !prices.includes(name);
    }
    return prices;
  }

  function prefill(form) {
    const price = reference(form);
    if (price === null) return;
    for (const name of ["limit_price", "stop_price"]) {
      const input = form.elements[name];
      if (input && !input.dataset.typed) input.value = price;
    }
  }

  function notional(form) {
    const out = form.querySelector("#ticket-notional");
    const prices = showPrices(form);
    // The price the order would trade at: its limit, else its stop, else (market) the quote.
    const field = prices.includes("limit_price") ? "limit_price" : prices.includes("stop_price") ? "stop_price" : null;
    const price = field ? parseFloat(form.elements[field].value) : parseFloat(reference(form));
    const qty = parseFloat(form.elements.quantity.value);
    const value = qty * price;
    out.textContent = Number.isFinite(value) ? value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "—";
    out.dataset.value = Number.isFinite(value) ? value.toFixed(2) : "";
  }

  function refresh() {
    const form = ticket();
    if (!form) return;
    // A price the server sent back (a refusal, the ticket after an entry) is the person's: keep it.
    for (const name of ["limit_price", "stop_price"]) {
      const input = form.elements[name];
      if (input && input.value) input.dataset.typed = "1";
    }
    prefill(form);
    notional(form);
  }

  document.addEventListener("market:quote", (ev) => {
    quote = ev.detail;
    const form = ticket();
    if (form) { prefill(form); notional(form); }
  });
  document.addEventListener("input", (ev) => {
    const form = ticket();
    if (!form || !form.contains(ev.target)) return;
    if (ev.target.name === "limit_price" || ev.target.name === "stop_price") ev.target.dataset.typed = "1";
    notional(form);
  });
  document.addEventListener("change", (ev) => {
    const form = ticket();
    if (!form || !form.contains(ev.target)) return;
    if (ev.target.name === "side") prefill(form);
    notional(form);
  });
  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("live:snapshot", refresh);
})();
