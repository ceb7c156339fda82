"""Matching: working orders against the simulated market, fills one partial at a time, and forced fills.

It runs on the simulator's event-loop thread only (no locks). Transmit chains reach it through
:class:`tws_simulator.ports.ChainRules`, handed in by the engine (they call back into matching).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from tws_simulator import encoder as enc
from tws_simulator.config import SimulatorConfig
from tws_simulator.market import Market
from tws_simulator.order_state import WORKING, new_order, status_frame
from tws_simulator.orders import OrderBook
from tws_simulator.portfolio import ACTIONS, Portfolio, commission_frame
from tws_simulator.ports import ChainRules


class Matching:
    """The working orders of each symbol, and what fills them."""

    def __init__(
        self,
        config: SimulatorConfig,
        market: Market,
        book: OrderBook,
        portfolio: Portfolio,
        schedule: Callable[[float, Callable[[], None]], None],
    ) -> None:
        self.config = config
        self.market = market
        self.book = book
        self.portfolio = portfolio
        self.schedule = schedule
        # Indexed per symbol so a market step looks only at that symbol's working orders.
        self.resting: dict[str, dict[int, dict]] = {}
        self.chains: ChainRules | None = None

    def attach(self, *, chains: ChainRules) -> None:
        """Hand in the chains, which are built on matching."""
        self.chains = chains

    def _chains(self) -> ChainRules:
        assert self.chains is not None, "attach() first"
        return self.chains

    def rest(self, order: dict) -> None:
        """Watch a Submitted order: each market step of its symbol may fill it."""
        self.resting.setdefault(order["symbol"], {})[order["perm_id"]] = order

    def touch(self, order: dict) -> float:
        """The price across the spread: the ask for a buy, the bid for a sell."""
        q = self.market.quotes[order["symbol"]]
        return q.ask if order["action"] == "BUY" else q.bid

    def _marketable_price(self, order: dict) -> float | None:
        """The price this order would fill at now, or None if it must rest."""
        q = self.market.quotes[order["symbol"]]
        buy = order["action"] == "BUY"
        otype = order["order_type"]
        if "STP" in otype and not order["triggered"]:
            stop = order["aux_price"]
            if (buy and q.last >= stop) or (not buy and q.last <= stop):
                order["triggered"] = True
            else:
                return None
        touch = q.ask if buy else q.bid
        if otype in ("MKT", "STP"):
            return touch
        limit = order["lmt_price"]
        if buy and touch <= limit + 1e-9:
            return touch
        if not buy and touch >= limit - 1e-9:
            return touch
        return None

    def work(self, order: dict, *, first: bool) -> None:
        """Fill what is marketable now, one partial at a time per the configured schedule."""
        if order["status"] != "Submitted" or order["hold"]:
            return
        delay = self.config.fill_delay if first else 0.0
        if delay > 0:
            self.schedule(delay, lambda: self._fill_step(order))
        else:
            self._fill_step(order)

    def _fill_step(self, order: dict) -> None:
        if order["status"] != "Submitted" or order["hold"] or order.get("filling"):
            return
        remaining = self._chains().open_quantity(order)
        if remaining <= 1e-9:
            return  # a child whose parent has not filled more yet
        price = self._marketable_price(order)
        if price is None:
            return
        parts = max(1, self.config.partial_fills)
        chunk = order["quantity"] / parts
        if float(order["quantity"]).is_integer():
            chunk = max(1.0, float(math.ceil(chunk)))
        qty = min(remaining, chunk)
        resting = order["order_type"] in ("LMT", "STP LMT") and order.get("rested", False)
        self.execute(order, qty, price, liquidity=1 if resting else 2)
        if order["status"] == "Submitted":
            order["filling"] = True

            def again() -> None:
                order["filling"] = False
                self._fill_step(order)

            self.schedule(self.config.partial_interval, again)

    def on_market_step(self, symbol: str) -> None:
        """Match the resting orders of ``symbol`` against its new quote (final orders leave the index)."""
        book = self.resting.get(symbol)
        if not book:
            return
        for perm_id, order in list(book.items()):
            if order["status"] not in WORKING:
                del book[perm_id]
            elif order["status"] == "Submitted":
                order["rested"] = True
                self._fill_step(order)

    def execute(self, order: dict, qty: float, price: float, *, liquidity: int) -> dict:
        """Book one execution of ``order`` and tell its owner and the position subscribers."""
        now = time.time()
        prev = order["filled"]
        order["filled"] = prev + qty
        order["avg_fill_price"] = round((order["avg_fill_price"] * prev + price * qty) / order["filled"], 8)
        order["last_fill_price"] = price
        execution = self.portfolio.book_execution(order, qty, price, liquidity=liquidity, now=now)
        final = order["filled"] >= order["quantity"] - 1e-9
        items = [("execDetails", enc.exec_details(req_id=-1, execution=execution))]
        if final:
            order["status"] = "Filled"
            items.append(("openOrder", enc.open_order(order, "Filled")))
        items.append(("orderStatus", status_frame(order)))
        items.append(("commissionReport", commission_frame(execution)))
        self.book.dirty = True
        self.book.tell_owner(order, items)
        self.portfolio.publish_position(order["account"], order["symbol"])
        self._chains().on_fill(order)
        return execution

    # -- forced fills (controls) ---------------------------------------------------------------

    def fill_order(self, *, client_id: int, order_id: int, quantity: float | None, price: float | None) -> dict:
        """Fill a working order now (all of it, or ``quantity``), whatever the market.

        :raises KeyError: no such working order.
        """
        order = self.book.orders.get((client_id, order_id))
        if order is None or order["status"] not in WORKING:
            raise KeyError(f"no working order {order_id} of client {client_id}")
        qty = min(order["quantity"] - order["filled"], quantity or order["quantity"])
        execution = self.execute(order, qty, price if price is not None else self.touch(order), liquidity=2)
        return {"exec_id": execution["exec_id"], "price": execution["price"], "shares": qty}

    def inject_external_fill(
        self, *, account: str, symbol: str, action: str, quantity: float, price: float | None
    ) -> dict:
        """Book an order entered outside the API (orderId 0, clientId 0, no orderRef) and fill it.

        :raises KeyError: unknown symbol or account.
        :raises ValueError: bad action or quantity.
        """
        if not self.portfolio.has_account(account):
            raise KeyError(f"unknown account {account}")
        quote = self.market.quotes[symbol]
        if action not in ACTIONS or not quantity > 0:
            raise ValueError("action must be BUY/SELL and quantity positive")
        order = new_order(
            order_id=0,
            client_id=0,
            perm_id=self.book.new_perm_id(),
            con_id=quote.con_id,
            symbol=symbol,
            account=account,
            action=action,
            quantity=float(quantity),
            status="Submitted",
            external=True,
        )
        # Keyed by permId so several external orders (all orderId 0) can coexist.
        self.book.add(order, (-1, order["perm_id"]))
        execution = self.execute(order, float(quantity), price if price is not None else self.touch(order), liquidity=2)
        return {"perm_id": order["perm_id"], "exec_id": execution["exec_id"], "price": execution["price"]}
