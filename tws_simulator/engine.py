"""The paper broker: the order book, matching, the portfolio and transmit chains, put together.

It runs on the simulator's event-loop thread only (no locks). It talks to connected clients through
the ``Session`` objects they open with it, and schedules its own timers through ``schedule``.
Connections and controls use it through :class:`tws_simulator.ports.Broker`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tws_simulator.account_updates import account_update_frames, completed_order_frames
from tws_simulator.chains import Chains
from tws_simulator.config import SimulatorConfig
from tws_simulator.ledger import Ledger
from tws_simulator.market import Market
from tws_simulator.matching import Matching
from tws_simulator.order_state import HELD
from tws_simulator.orders import OrderBook
from tws_simulator.parser import ExecutionFilter, PlaceOrder
from tws_simulator.portfolio import Portfolio
from tws_simulator.ports import Session


class Engine:
    """Broker state and behaviour. Every public method is called on the loop thread."""

    def __init__(self, config: SimulatorConfig, ledger: Ledger, schedule: Callable[[float, Callable[[], None]], None]):
        self.config = config
        self.sessions: dict[int, Session] = {}
        self.market = Market(
            config.instruments,
            seed=config.seed,
            min_tick=config.min_tick,
            volatility_ticks=config.volatility_ticks,
            clock=config.clock,
        )
        rng = random.Random(config.seed)
        next_perm_id = rng.randint(1_000_000_000, 1_900_000_000)
        exec_prefix = f"{rng.randrange(16**8):08x}"
        self.portfolio = Portfolio(
            config, self.market, ledger, self.sessions, exec_prefix=exec_prefix, next_exec_seq=rng.randrange(16**6)
        )
        self.book = OrderBook(config, self.market, self.portfolio, self.sessions, schedule, next_perm_id=next_perm_id)
        self.matching = Matching(config, self.market, self.book, self.portfolio, schedule)
        self.chains = Chains(self.book, self.matching)
        self.book.attach(chains=self.chains, fills=self.matching)
        self.matching.attach(chains=self.chains)

    @property
    def dirty(self) -> bool:
        """True when the state changed since the state file was last written."""
        return self.book.dirty or self.portfolio.dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self.book.dirty = self.portfolio.dirty = value

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Return the state that survives a restart, as JSON-serialisable data."""
        return {
            "max_order_id": {str(k): v for k, v in self.book.max_order_id.items()},
            "orders": list(self.book.orders.values()),
            "next_perm_id": self.book.next_perm_id,
            **self.portfolio.snapshot(),
            "prices": {s: [q.bid, q.ask, q.last, q.volume] for s, q in self.market.quotes.items()},
        }

    def restore(self, data: dict) -> None:
        """Load a :meth:`snapshot`; accounts not in it start with the configured cash."""
        self.book.max_order_id = {int(k): int(v) for k, v in data.get("max_order_id", {}).items()}
        for order in data.get("orders", []):
            if order["status"] == HELD:
                continue  # untransmitted orders do not survive a TWS restart
            order["filling"] = False
            key = (-1, order["perm_id"]) if order["external"] else (order["client_id"], order["order_id"])
            self.book.add(order, key)
            self.chains.register(order)
            if order["status"] == "Submitted":
                self.matching.rest(order)
        self.book.next_perm_id = data.get("next_perm_id", self.book.next_perm_id)
        self.portfolio.restore(data)
        for symbol, (bid, ask, last, volume) in data.get("prices", {}).items():
            if symbol in self.market.quotes:
                q = self.market.quotes[symbol]
                q.bid, q.ask, q.last, q.volume = bid, ask, last, volume
                self.market.anchor(symbol)
        self.dirty = False

    # -- sessions ------------------------------------------------------------------------------

    def open_session(self, session: Session) -> None:
        """A client completed its handshake: its order messages and position updates now reach it."""
        self.sessions[session.client_id] = session

    def close_session(self, session: Session) -> None:
        """A client disconnected: TWS discards the orders it had not transmitted."""
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
            self.chains.discard_held(session.client_id)

    # -- requests (connections) ----------------------------------------------------------------

    def next_valid_id(self, client_id: int) -> int:
        """The nextValidId to announce to ``client_id``."""
        return self.book.next_valid_id(client_id)

    def open_order_frames(self, client_id: int | None) -> list[bytes]:
        """openOrder + orderStatus of the working orders of ``client_id`` (None: every client)."""
        return self.book.open_order_frames(client_id)

    def place_order(self, session: Session, po: PlaceOrder) -> None:
        """Handle placeOrder from ``session``: a new order or a modify."""
        self.book.place_order(session, po)

    def cancel_order(self, session: Session, order_id: int) -> None:
        """Handle cancelOrder from ``session``."""
        self.book.cancel_order(session, order_id)

    def global_cancel(self) -> None:
        """Handle reqGlobalCancel: cancel every working and untransmitted order."""
        self.book.global_cancel()

    def position_frames(self) -> list[bytes]:
        """Every position, then positionEnd."""
        return self.portfolio.position_frames()

    def account_summary_frames(self, req_id: int, tags: list[str]) -> list[bytes]:
        """The account summary of ``tags`` for every account, then accountSummaryEnd."""
        return self.portfolio.account_summary_frames(req_id, tags)

    def execution_frames(self, req_id: int, flt: ExecutionFilter) -> list[bytes]:
        """The executions ``flt`` selects, then execDetailsEnd."""
        return self.portfolio.execution_frames(req_id, flt)

    def account_update_frames(self, account: str, now: float, *, changed: str = "") -> list[bytes]:
        """reqAccountUpdates' download of ``account`` (values, portfolio, time, accountDownloadEnd), or with
        ``changed`` the update for that symbol's moved position (no end marker)."""
        portfolio = self.portfolio
        return account_update_frames(
            account,
            portfolio.account_values(account),
            list(portfolio.positions.values()),
            self.market,
            now,
            changed=changed,
        )

    def account_values(self, account: str) -> dict[str, float]:
        """The money figures of ``account`` marked to the last prices."""
        return self.portfolio.account_values(account)

    def completed_order_frames(self, *, api_only: bool) -> list[bytes]:
        """reqCompletedOrders' answer: each finished order, then completedOrdersEnd."""
        return completed_order_frames(list(self.book.orders.values()), self.portfolio.executions, api_only=api_only)

    def on_market_step(self, symbol: str) -> None:
        """Match the working orders of ``symbol`` against its new quote."""
        self.matching.on_market_step(symbol)

    # -- faults and inspection (controls) ------------------------------------------------------

    def queue_order_fault(self, fault: dict) -> None:
        """Apply ``fault`` (reject, fill or partial) to the next order accepted."""
        self.book.order_faults.append(fault)

    def roll_back_next_valid_id(self, client_id: int, by: int) -> int:
        """Announce a nextValidId ``by`` lower to ``client_id`` until it places an order; return it."""
        self.book.next_valid_id_offset[client_id] = by
        return self.book.next_valid_id(client_id)

    def clear_order_faults(self) -> None:
        """Forget queued order faults and nextValidId rollbacks."""
        self.book.order_faults.clear()
        self.book.next_valid_id_offset.clear()

    def fill_order(self, *, client_id: int, order_id: int, quantity: float | None, price: float | None) -> dict:
        """Fill a working order now, whatever the market.

        :raises KeyError: no such working order.
        """
        return self.matching.fill_order(client_id=client_id, order_id=order_id, quantity=quantity, price=price)

    def correct_execution(self, exec_id: str | None = None) -> dict:
        """Re-issue an execution (the last one by default) as a correction.

        :raises KeyError: no such execution.
        """
        return self.portfolio.correct_execution(exec_id)

    def inject_external_fill(
        self, *, account: str, symbol: str, action: str, quantity: float, price: float | None
    ) -> dict:
        """Book and fill an order entered outside the API.

        :raises KeyError: unknown symbol or account.
        :raises ValueError: bad action or quantity.
        """
        return self.matching.inject_external_fill(
            account=account, symbol=symbol, action=action, quantity=quantity, price=price
        )

    def state(self) -> dict:
        """Connected clientIds, orders, positions, cash and quotes, as plain data."""
        book, portfolio = self.book, self.portfolio
        return {
            "clients": sorted(self.sessions),
            "orders": [dict(o) for o in book.orders.values()],
            "positions": [dict(p) for p in portfolio.positions.values()],
            "cash": dict(portfolio.cash),
            "quotes": {s: {"bid": q.bid, "ask": q.ask, "last": q.last} for s, q in self.market.quotes.items()},
            "next_valid_ids": {cid: book.next_valid_id(cid) for cid in book.max_order_id},
        }
