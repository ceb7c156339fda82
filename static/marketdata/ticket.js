// The Market page's order ticket: shows the price fields the order type takes, prefills them from
// the live quote (chart.js's "market:quote": the ask to buy, the bid to sell, else the last) until
// the person types a price, and shows the notional. The ticket itself is a server form posted by
// htmx (streams/_ticket.html); every rule is the order entry service's, none is checked here.
(function () {
  "use strict";
  let quote = null, held = null;

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
  document.addEventListener("DOMContentLoaded", () => { held = ticket(); refresh(); });
  // htmx:load fires for the ticket htmx swapped in (and bubbles, unlike the swapped-out form's events).
  document.addEventListener("htmx:load", () => { held = ticket(); refresh(); });
  // live.js's resync re-renders the page: the ticket the person was filling in (and its client
  // order id) is put back in place of the blank one, so a resync never changes an order.
  document.addEventListener("live:snapshot", () => {
    const fresh = ticket();
    if (fresh && held && fresh !== held) fresh.replaceWith(held);
    refresh();
  });
})();
