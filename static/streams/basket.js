// A basket's progress, counted again from its order rows whenever live.js replaces one (or reloads them).
(function () {
  "use strict";

  function number(text) {
    const value = parseFloat((text || "").replace(/,/g, ""));
    return isNaN(value) ? 0 : value;
  }

  function recount() {
    const progress = document.getElementById("basket-progress");
    if (!progress) return;
    const open = new Set((progress.dataset.open || "").split(" "));
    // The quantity entered is the page's (a row names its filled quantity by class, not its order quantity's cell).
    const quantity = number(progress.querySelector(".quantity") && progress.querySelector(".quantity").textContent);
    let orders = 0, filled = 0, working = 0, done = 0;
    document.querySelectorAll("#basket-orders tbody tr.order").forEach((row) => {
      orders += 1;
      if (row.dataset.status === "FILLED") filled += 1;
      if (open.has(row.dataset.status)) working += 1;
      done += number(row.querySelector(".filled") && row.querySelector(".filled").textContent);
    });
    const set = (selector, value) => { const el = progress.querySelector(selector); if (el) el.textContent = value; };
    set(".filled-count", filled);
    set(".order-count", orders);
    set(".working-count", working);
    set(".filled-quantity", done);
    // Nothing left working: nothing to cancel (the service would refuse it: basket.not_cancellable).
    const cancel = document.getElementById("basket-cancel");
    if (cancel) cancel.hidden = working === 0;
    const bar = document.getElementById("basket-progress-bar");
    if (bar) { bar.max = quantity || 1; bar.value = done; }
  }

  // live.js announces a row before it swaps it in: count once the swap is done.
  document.addEventListener("live:row", (event) => { if (event.detail.kind === "order") setTimeout(recount, 0); });
  document.addEventListener("live:snapshot", recount);
})();
