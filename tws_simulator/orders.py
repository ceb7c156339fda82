"""The paper broker's order book: order ids, placeOrder (new or modify), validation, cancels and order reports.

It runs on the simulator's event-loop thread only (no locks). It reaches transmit chains and matching
through :class:`tws_simulator.ports.ChainRules` and :class:`tws_simulator.ports.Fills`, handed in by
the engine once they exist (they are built on the book and call back into it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from tws_simulator import encoder as enc
from tws_simulator.config import SimulatorConfig
from tws_simulator.market import Market
from tws_simulator.order_state import HELD, ORDER_TYPES, WORKING, new_order, order_frames, status_frame
from tws_simulator.parser import PlaceOrder
from tws_simulator.portfolio import ACTIONS, Portfolio, tell_owner
from tws_simulator.ports import ChainRules, Fills, Session


class OrderBook:
    """Every order by (clientId, orderId) and by permId, the ids each client used, and queued order faults."""

    def __init__(
        self,
        config: SimulatorConfig,
        market: Market,
        portfolio: Portfolio,
        sessions: Mapping[int, Session],
        schedule: Callable[[float, Callable[[], None]], None],
        *,
        next_perm_id: int,
    ) -> None:
        self.config = config
        self.market = market
        self.portfolio = portfolio
        self.sessions = sessions
        self.schedule = schedule
        self.max_order_id: dict[int, int] = {}
        self.next_valid_id_offset: dict[int, int] = {}
        self.orders: dict[tuple[int, int], dict] = {}
        self.orders_by_perm: dict[int, dict] = {}
        self.next_perm_id = next_perm_id
        self.order_faults: list[dict] = []
        self.dirty = False
        self.chains: ChainRules | None = None
        self.fills: Fills | None = None

    def attach(self, *, chains: ChainRules, fills: Fills) -> None:
        """Hand in the chains and matching, which are built on this book."""
        self.chains = chains
        self.fills = fills

    def _rules(self) -> tuple[ChainRules, Fills]:
        assert self.chains is not None and self.fills is not None, "attach() first"
        return self.chains, self.fills

    # -- ids and reports -----------------------------------------------------------------------

    def next_valid_id(self, client_id: int) -> int:
        """The id TWS announces: highest id this clientId ever used + 1 (minus a rollback fault)."""
        nxt = self.max_order_id.get(client_id, 0) + 1
        return max(1, nxt - self.next_valid_id_offset.get(client_id, 0))

    def new_perm_id(self) -> int:
        perm = self.next_perm_id
        self.next_perm_id += 1
        return perm

    def open_order_frames(self, client_id: int | None) -> list[bytes]:
        """openOrder + orderStatus for every working order of ``client_id`` (None: of every client)."""
        out: list[bytes] = []
        for order in self.orders.values():
            if order["status"] in WORKING and (client_id is None or order["client_id"] == client_id):
                out.append(enc.open_order(order, order["status"]))
                out.append(status_frame(order))
        return out

    def tell_owner(self, order: dict, items: list[tuple[str, bytes]]) -> None:
        """Send order messages to the client that owns ``order``, if it is connected."""
        tell_owner(self.sessions, order["client_id"], items)

    def add(self, order: dict, key: tuple[int, int]) -> None:
        """Keep ``order`` under ``key`` and its permId."""
        self.orders[key] = order
        self.orders_by_perm[order["perm_id"]] = order
        self.dirty = True

    def remove(self, key: tuple[int, int]) -> None:
        """Forget the order under ``key`` (an untransmitted order TWS discards)."""
        order = self.orders.pop(key)
        self.orders_by_perm.pop(order["perm_id"], None)
        self.dirty = True

    # -- placeOrder ----------------------------------------------------------------------------

    def _validate(self, session: Session, po: PlaceOrder) -> str | None:
        """Return the account the order books to, or None after answering the client with the TWS error."""
        oid = po.order_id
        if po.sec_type == "BAG":
            _refuse(session, oid, "Combination orders are not supported")
            return None
        if po.symbol not in self.market.quotes or po.sec_type not in ("STK", "") or po.currency not in ("USD", ""):
            _error(session, oid, 200, "No security definition has been found for the request")
            return None
        if self.config.reject_etrade_attrs:
            if po.e_trade_only:
                _error(session, oid, 10268, "The 'EtradeOnly' order attribute is not supported.")
                return None
            if po.firm_quote_only:
                _error(session, oid, 10269, "The 'FirmQuoteOnly' order attribute is not supported.")
                return None
            if po.nbbo_price_cap is not None:
                _error(session, oid, 10270, "The 'NbboPriceCap' order attribute is not supported.")
                return None
        account = po.account
        if not account:
            if len(self.config.accounts) != 1:
                _refuse(session, oid, "You must specify an account.")
                return None
            account = self.config.accounts[0]
        if not self.portfolio.has_account(account):
            _refuse(session, oid, f"Invalid account: {account}")
            return None
        problem = None
        if po.action not in ACTIONS:
            problem = f"Invalid action: {po.action}"
        elif shape := _shape_problem(po):
            problem = shape
        elif po.oca_type not in (0, 1, 2, 3):
            problem = f"Invalid OCA type: {po.oca_type}"
        else:
            problem = self._rules()[0].parent_problem(session.client_id, po.parent_id)
        if problem:
            _refuse(session, oid, problem)
            return None
        for price in (
            po.lmt_price if po.order_type in ("LMT", "STP LMT") else None,
            po.aux_price if "STP" in po.order_type else None,
        ):
            if price is not None and not self.market.on_tick(po.symbol, price):
                _error(
                    session, oid, 110, "The price does not conform to the minimum price variation for this contract."
                )
                return None
        return account

    def place_order(self, session: Session, po: PlaceOrder) -> None:
        """Handle placeOrder: a new order, or a modify when the id is a working order of this client."""
        cid = session.client_id
        existing = self.orders.get((cid, po.order_id))
        if existing is not None:
            self._modify(session, existing, po)
            return
        if po.order_id <= self.max_order_id.get(cid, 0) or po.order_id <= 0:
            _error(session, po.order_id, 103, "Duplicate order ID.")
            return
        account = self._validate(session, po)
        if account is None:
            return
        self.max_order_id[cid] = po.order_id
        self.next_valid_id_offset.pop(cid, None)
        order = new_order(
            order_id=po.order_id,
            client_id=cid,
            perm_id=self.new_perm_id(),
            con_id=self.market.quotes[po.symbol].con_id,
            symbol=po.symbol,
            account=account,
            action=po.action,
            quantity=po.quantity,
            status="PendingSubmit",
            exchange=po.exchange or "SMART",
            order_type=po.order_type,
            lmt_price=po.lmt_price if po.order_type in ("LMT", "STP LMT") else None,
            aux_price=po.aux_price if "STP" in po.order_type else None,
            tif=po.tif or "DAY",
            oca_group=po.oca_group,
            order_ref=po.order_ref,
            parent_id=po.parent_id,
            outside_rth=po.outside_rth,
            transmit=po.transmit,
        )
        order.update(oca_type=po.oca_type or 3, oca_base=po.quantity, released=None, waiting=False)
        chains = self._rules()[0]
        self.add(order, (cid, po.order_id))
        chains.register(order)
        if not po.transmit:
            order["status"] = HELD  # TWS keeps it, says nothing, until its chain's last transmit=True
            return
        chains.transmit(order)

    def accept(self, order: dict) -> None:
        """Take a transmitted order: a fault or margin reject, a wait for its parent, or on to Submitted."""
        chains, _ = self._rules()
        fault = self.order_faults.pop(0) if self.order_faults else None
        # A child only closes what its parent opens: TWS margins the bracket as one, so it is not checked.
        if fault is None and self.config.margin_check and not order["parent_id"]:
            fault = self.portfolio.margin_reject(order)
        if fault and fault["kind"] == "reject":
            order["status"] = fault.get("status", "Inactive")
            self.tell_owner(
                order,
                [("error", enc.error(order["order_id"], fault.get("code", 201), fault["text"])), *order_frames(order)],
            )
            return
        if chains.hold_child(order):
            return
        if self.config.presubmitted:
            order["status"] = "PreSubmitted"
            self.tell_owner(order, order_frames(order))
        if self.config.submit_delay > 0:
            self.schedule(self.config.submit_delay, lambda: self._submit(order, fault))
        else:
            self._submit(order, fault)

    def _submit(self, order: dict, fault: dict | None) -> None:
        if order["status"] not in ("PendingSubmit", "PreSubmitted") or order.get("waiting"):
            return  # cancelled while waiting, or a child waiting for its parent
        _, fills = self._rules()
        self.activate(order)
        if fault and fault["kind"] == "fill":
            fills.execute(order, order["quantity"], fault.get("price") or fills.touch(order), liquidity=2)
            return
        if fault and fault["kind"] == "partial":
            qty = min(float(fault.get("quantity") or math.floor(order["quantity"] / 2) or 1), order["quantity"])
            order["hold"] = True
            fills.execute(order, qty, fault.get("price") or fills.touch(order), liquidity=2)
            return
        fills.work(order, first=True)

    def activate(self, order: dict) -> None:
        """Make ``order`` Submitted (working at the destination), tell its owner, and let matching see it."""
        order["status"] = "Submitted"
        self._rules()[1].rest(order)
        self.tell_owner(order, order_frames(order))

    def _modify(self, session: Session, order: dict, po: PlaceOrder) -> None:
        if order["status"] == "Filled":
            _error(session, po.order_id, 104, "Can't modify a filled order.")
            return
        if order["status"] not in WORKING and order["status"] != HELD:
            _error(session, po.order_id, 103, "Duplicate order ID.")
            return
        if po.symbol != order["symbol"] or po.action != order["action"]:
            _error(session, po.order_id, 105, "Order being modified does not match original order.")
            return
        problem = _shape_problem(po)
        if problem:
            _refuse(session, po.order_id, problem)
            return
        for price in (po.lmt_price, po.aux_price):
            if price is not None and not self.market.on_tick(po.symbol, price):
                _error(
                    session,
                    po.order_id,
                    110,
                    "The price does not conform to the minimum price variation for this contract.",
                )
                return
        if po.quantity < order["filled"] or po.quantity <= 0:
            _refuse(session, po.order_id, "The order size cannot be below the filled size")
            return
        order["quantity"] = po.quantity
        order["oca_base"] = po.quantity
        order["order_type"] = po.order_type
        order["lmt_price"] = po.lmt_price if po.order_type in ("LMT", "STP LMT") else None
        order["aux_price"] = po.aux_price if "STP" in po.order_type else None
        order["tif"] = po.tif or order["tif"]
        order["outside_rth"] = po.outside_rth
        self.dirty = True
        chains, fills = self._rules()
        if order["status"] == HELD:
            if po.transmit:
                chains.transmit(order)
            return
        self.tell_owner(order, order_frames(order))
        if order["status"] == "Submitted":
            fills.work(order, first=False)

    # -- cancels -------------------------------------------------------------------------------

    def cancel_order(self, session: Session, order_id: int) -> None:
        """Handle cancelOrder: the cancel sequence, 10147 for an unknown order, 10148 for a final one."""
        order = self.orders.get((session.client_id, order_id))
        if order is None:
            _error(session, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        if (order["status"] not in WORKING and order["status"] != HELD) or order["status"] == "PendingCancel":
            _error(
                session,
                order_id,
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order['status']}.",
            )
            return
        self.cancel(order)

    def cancel(self, order: dict, *, requested: bool = True) -> None:
        """Cancel ``order`` (``requested``: by its client, through PendingCancel) and what hangs on it."""
        if order["status"] == HELD or (
            order["status"] in ("PendingSubmit", "PreSubmitted") and order["filled"] == 0 and not order.get("waiting")
        ):
            # Not yet working at the destination: TWS reports the API-side cancel.
            order["status"] = "ApiCancelled"
            items = [("orderStatus", status_frame(order))]
        else:
            items = [("orderStatus", status_frame(order, "PendingCancel"))] if requested else []
            order["status"] = "Cancelled"
            items.append(("orderStatus", status_frame(order)))
        items.append(("error", enc.error(order["order_id"], 202, "Order Canceled - reason:")))
        self.dirty = True
        self.tell_owner(order, items)
        self._rules()[0].on_cancel(order)

    def global_cancel(self) -> None:
        """Cancel every working (and every untransmitted) order of every client."""
        for order in list(self.orders.values()):
            if (order["status"] in WORKING or order["status"] == HELD) and order["status"] != "PendingCancel":
                self.cancel(order)


def _error(session: Session, req_id: int, code: int, text: str) -> None:
    session.send([enc.error(req_id, code, text)])


def _shape_problem(po: PlaceOrder) -> str | None:
    """What is wrong with an order's size, type or the prices its type needs (None: nothing).

    One rule for a new order and for a modify: a modify that dropped its limit price once reached
    matching and failed there.
    """
    if not (po.quantity > 0) or math.isinf(po.quantity):
        return "The order size must be positive"
    if po.order_type not in ORDER_TYPES:
        return f"Unsupported order type: {po.order_type}"
    if po.order_type in ("LMT", "STP LMT") and (po.lmt_price is None or po.lmt_price <= 0):
        return "The limit price must be positive"
    if po.order_type in ("STP", "STP LMT") and (po.aux_price is None or po.aux_price <= 0):
        return "The stop price must be positive"
    return None


def _refuse(session: Session, req_id: int, problem: str) -> None:
    """TWS's 321: the request failed validation for ``problem``."""
    _error(session, req_id, 321, f"Error validating request:-'bN' : cause - {problem}")
