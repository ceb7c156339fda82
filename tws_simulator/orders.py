"""The paper broker: order ids, orders, matching, fills, commissions, positions, cash and account values.

It runs on the simulator's event-loop thread only (no locks). It talks to connected clients through
``Session`` objects registered by the server, and schedules its own timers through ``schedule``.
"""

from __future__ import annotations

import calendar
import math
import random
import time
from collections.abc import Callable
from typing import Protocol

from tws_simulator import encoder as enc
from tws_simulator.chains import HELD, Chains
from tws_simulator.config import SimulatorConfig
from tws_simulator.ledger import Ledger
from tws_simulator.market import Market
from tws_simulator.parser import ExecutionFilter, PlaceOrder

WORKING = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "PendingCancel"})
ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})
ACTIONS = {"BUY": "BOT", "SELL": "SLD", "SSHORT": "SLD"}
SUMMARY_TAGS = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "BuyingPower",
    "AvailableFunds",
    "ExcessLiquidity",
    "GrossPositionValue",
    "EquityWithLoanValue",
    "InitMarginReq",
    "MaintMarginReq",
    "UnrealizedPnL",
    "RealizedPnL",
)


class Session(Protocol):
    """What the engine needs of a connected client (implemented by the server's connection)."""

    client_id: int
    positions_subscribed: bool
    account_summaries: dict[int, list[str]]
    market_data: dict[int, tuple[str, bool]]

    def send(self, frames: list[bytes]) -> None: ...

    def send_order_messages(self, items: list[tuple[str, bytes]]) -> None: ...


def _fmt_time(epoch: float) -> str:
    return time.strftime("%Y%m%d %H:%M:%S", time.gmtime(epoch)) + " UTC"


def _money(value: float) -> str:
    return f"{value:.2f}"


class Engine:
    """Broker state and behaviour. Every public method is called on the loop thread."""

    def __init__(self, config: SimulatorConfig, ledger: Ledger, schedule: Callable[[float, Callable[[], None]], None]):
        self.config = config
        self.ledger = ledger
        self.schedule = schedule
        self.sessions: dict[int, Session] = {}
        self.market = Market(
            config.instruments, seed=config.seed, min_tick=config.min_tick, volatility_ticks=config.volatility_ticks
        )
        rng = random.Random(config.seed)
        self.max_order_id: dict[int, int] = {}
        self.next_valid_id_offset: dict[int, int] = {}
        self.orders: dict[tuple[int, int], dict] = {}
        self.orders_by_perm: dict[int, dict] = {}
        self.executions: list[dict] = []
        self.positions: dict[tuple[str, str], dict] = {}
        self.cash: dict[str, float] = {a: float(config.starting_cash) for a in config.accounts}
        self.realized: dict[str, float] = dict.fromkeys(config.accounts, 0.0)
        self.next_perm_id = rng.randint(1_000_000_000, 1_900_000_000)
        self.exec_prefix = f"{rng.randrange(16**8):08x}"
        self.next_exec_seq = rng.randrange(16**6)
        self.order_faults: list[dict] = []
        self.resting: dict[str, dict[int, dict]] = {}
        self.chains = Chains(self)
        self.dirty = False

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Return the state that survives a restart, as JSON-serialisable data."""
        return {
            "max_order_id": {str(k): v for k, v in self.max_order_id.items()},
            "orders": list(self.orders.values()),
            "executions": self.executions,
            "positions": list(self.positions.values()),
            "cash": self.cash,
            "realized": self.realized,
            "next_perm_id": self.next_perm_id,
            "exec_prefix": self.exec_prefix,
            "next_exec_seq": self.next_exec_seq,
            "prices": {s: [q.bid, q.ask, q.last, q.volume] for s, q in self.market.quotes.items()},
        }

    def restore(self, data: dict) -> None:
        """Load a :meth:`snapshot`; accounts not in it start with the configured cash."""
        self.max_order_id = {int(k): int(v) for k, v in data.get("max_order_id", {}).items()}
        for order in data.get("orders", []):
            if order["status"] == HELD:
                continue  # untransmitted orders do not survive a TWS restart
            order["filling"] = False
            key = (-1, order["perm_id"]) if order["external"] else (order["client_id"], order["order_id"])
            self.orders[key] = order
            self.orders_by_perm[order["perm_id"]] = order
            self.chains.register(order)
            if order["status"] == "Submitted":
                self.resting.setdefault(order["symbol"], {})[order["perm_id"]] = order
        self.executions = list(data.get("executions", []))
        for pos in data.get("positions", []):
            self.positions[(pos["account"], pos["symbol"])] = pos
        self.cash.update(data.get("cash", {}))
        self.realized.update(data.get("realized", {}))
        self.next_perm_id = data.get("next_perm_id", self.next_perm_id)
        self.exec_prefix = data.get("exec_prefix", self.exec_prefix)
        self.next_exec_seq = data.get("next_exec_seq", self.next_exec_seq)
        for symbol, (bid, ask, last, volume) in data.get("prices", {}).items():
            if symbol in self.market.quotes:
                q = self.market.quotes[symbol]
                q.bid, q.ask, q.last, q.volume = bid, ask, last, volume

    # -- sessions ------------------------------------------------------------------------------

    def client_gone(self, client_id: int) -> None:
        """A client disconnected: TWS discards the orders it had not transmitted."""
        self.chains.discard_held(client_id)

    def next_valid_id(self, client_id: int) -> int:
        """The id TWS announces: highest id this clientId ever used + 1 (minus a rollback fault)."""
        nxt = self.max_order_id.get(client_id, 0) + 1
        return max(1, nxt - self.next_valid_id_offset.get(client_id, 0))

    def open_order_frames(self, client_id: int | None) -> list[bytes]:
        """openOrder + orderStatus for every working order of ``client_id`` (None: of every client)."""
        out: list[bytes] = []
        for order in self.orders.values():
            if order["status"] in WORKING and (client_id is None or order["client_id"] == client_id):
                out.append(enc.open_order(order, order["status"]))
                out.append(self._status_frame(order))
        return out

    # -- orders --------------------------------------------------------------------------------

    def _status_frame(self, order: dict, status: str | None = None) -> bytes:
        return enc.order_status(
            order_id=order["order_id"],
            status=status or order["status"],
            filled=order["filled"],
            remaining=max(0.0, order["quantity"] - order["filled"]),
            avg_fill_price=order["avg_fill_price"],
            perm_id=order["perm_id"],
            parent_id=order["parent_id"],
            last_fill_price=order["last_fill_price"],
            client_id=order["client_id"],
        )

    def _to_owner(self, order: dict, items: list[tuple[str, bytes]]) -> None:
        session = self.sessions.get(order["client_id"])
        if session is not None:
            session.send_order_messages(items)

    def _error(self, session: Session, req_id: int, code: int, text: str) -> None:
        session.send([enc.error(req_id, code, text)])

    def _validate(self, session: Session, po: PlaceOrder) -> str | None:
        """Return the account the order books to, or None after answering the client with the TWS error."""
        oid = po.order_id
        if po.sec_type == "BAG":
            self._error(
                session, oid, 321, "Error validating request:-'bN' : cause - Combination orders are not supported"
            )
            return None
        if po.symbol not in self.market.quotes or po.sec_type not in ("STK", "") or po.currency not in ("USD", ""):
            self._error(session, oid, 200, "No security definition has been found for the request")
            return None
        if self.config.reject_etrade_attrs:
            if po.e_trade_only:
                self._error(session, oid, 10268, "The 'EtradeOnly' order attribute is not supported.")
                return None
            if po.firm_quote_only:
                self._error(session, oid, 10269, "The 'FirmQuoteOnly' order attribute is not supported.")
                return None
            if po.nbbo_price_cap is not None:
                self._error(session, oid, 10270, "The 'NbboPriceCap' order attribute is not supported.")
                return None
        account = po.account
        if not account:
            if len(self.config.accounts) != 1:
                self._error(session, oid, 321, "Error validating request:-'bN' : cause - You must specify an account.")
                return None
            account = self.config.accounts[0]
        if account not in self.cash:
            self._error(session, oid, 321, f"Error validating request:-'bN' : cause - Invalid account: {account}")
            return None
        problem = None
        if po.action not in ACTIONS:
            problem = f"Invalid action: {po.action}"
        elif not (po.quantity > 0) or math.isinf(po.quantity):
            problem = "The order size must be positive"
        elif po.order_type not in ORDER_TYPES:
            problem = f"Unsupported order type: {po.order_type}"
        elif po.order_type in ("LMT", "STP LMT") and (po.lmt_price is None or po.lmt_price <= 0):
            problem = "The limit price must be positive"
        elif po.order_type in ("STP", "STP LMT") and (po.aux_price is None or po.aux_price <= 0):
            problem = "The stop price must be positive"
        elif po.oca_type not in (0, 1, 2, 3):
            problem = f"Invalid OCA type: {po.oca_type}"
        else:
            problem = self.chains.parent_problem(session.client_id, po.parent_id)
        if problem:
            self._error(session, oid, 321, f"Error validating request:-'bN' : cause - {problem}")
            return None
        for price in (
            po.lmt_price if po.order_type in ("LMT", "STP LMT") else None,
            po.aux_price if "STP" in po.order_type else None,
        ):
            if price is not None and not self.market.on_tick(po.symbol, price):
                self._error(
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
            self._error(session, po.order_id, 103, "Duplicate order ID.")
            return
        account = self._validate(session, po)
        if account is None:
            return
        self.max_order_id[cid] = po.order_id
        self.next_valid_id_offset.pop(cid, None)
        quote = self.market.quotes[po.symbol]
        order = {
            "order_id": po.order_id,
            "client_id": cid,
            "perm_id": self._new_perm_id(),
            "con_id": quote.con_id,
            "symbol": po.symbol,
            "exchange": po.exchange or "SMART",
            "currency": "USD",
            "account": account,
            "action": po.action,
            "quantity": po.quantity,
            "order_type": po.order_type,
            "lmt_price": po.lmt_price if po.order_type in ("LMT", "STP LMT") else None,
            "aux_price": po.aux_price if "STP" in po.order_type else None,
            "tif": po.tif or "DAY",
            "oca_group": po.oca_group,
            "oca_type": po.oca_type or 3,
            "oca_base": po.quantity,
            "released": None,
            "waiting": False,
            "order_ref": po.order_ref,
            "parent_id": po.parent_id,
            "outside_rth": po.outside_rth,
            "transmit": po.transmit,
            "status": "PendingSubmit",
            "filled": 0.0,
            "avg_fill_price": 0.0,
            "last_fill_price": 0.0,
            "commission_charged": 0.0,
            "triggered": False,
            "hold": False,
            "external": False,
        }
        self._register(order)
        if not po.transmit:
            order["status"] = HELD  # TWS keeps it, says nothing, until its chain's last transmit=True
            return
        self.chains.transmit(order)

    def _accept(self, order: dict) -> None:
        """Take a transmitted order: a fault or margin reject, a wait for its parent, or on to Submitted."""
        fault = self.order_faults.pop(0) if self.order_faults else None
        # A child only closes what its parent opens: TWS margins the bracket as one, so it is not checked.
        if fault is None and self.config.margin_check and not order["parent_id"]:
            fault = self._margin_reject(order)
        if fault and fault["kind"] == "reject":
            order["status"] = fault.get("status", "Inactive")
            self._to_owner(
                order,
                [
                    ("error", enc.error(order["order_id"], fault.get("code", 201), fault["text"])),
                    ("openOrder", enc.open_order(order, order["status"])),
                    ("orderStatus", self._status_frame(order)),
                ],
            )
            return
        if self.chains.hold_child(order):
            return
        if self.config.presubmitted:
            order["status"] = "PreSubmitted"
            self._to_owner(
                order,
                [("openOrder", enc.open_order(order, "PreSubmitted")), ("orderStatus", self._status_frame(order))],
            )
        if self.config.submit_delay > 0:
            self.schedule(self.config.submit_delay, lambda: self._submit(order, fault))
        else:
            self._submit(order, fault)

    def _margin_reject(self, order: dict) -> dict | None:
        """A 201 reject when the order would take initial margin (25% of gross) above net liquidation."""
        quote = self.market.quotes[order["symbol"]]
        price = order["lmt_price"] or order["aux_price"] or quote.ask
        values = self.account_values(order["account"])
        pos = self.positions.get((order["account"], order["symbol"]))
        held = pos["quantity"] if pos else 0.0
        signed = order["quantity"] if order["action"] == "BUY" else -order["quantity"]
        extra = (abs(held + signed) - abs(held)) * price
        margin = 0.25 * (values["GrossPositionValue"] + extra)
        if extra <= 0 or margin <= values["NetLiquidation"]:
            return None
        text = (
            "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR "
            f"EQUITY WITH LOAN VALUE [{values['EquityWithLoanValue']:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
            f"[{margin:.2f} USD]"
        )
        return {"kind": "reject", "code": 201, "text": text, "status": "Inactive"}

    def _register(self, order: dict) -> None:
        self.orders[(order["client_id"], order["order_id"])] = order
        self.orders_by_perm[order["perm_id"]] = order
        self.chains.register(order)
        self.dirty = True

    def _new_perm_id(self) -> int:
        perm = self.next_perm_id
        self.next_perm_id += 1
        return perm

    def _submit(self, order: dict, fault: dict | None) -> None:
        if order["status"] not in ("PendingSubmit", "PreSubmitted") or order.get("waiting"):
            return  # cancelled while waiting, or a child waiting for its parent
        self._activate(order)
        if fault and fault["kind"] == "fill":
            self._execute(order, order["quantity"], fault.get("price") or self._touch(order), liquidity=2)
            return
        if fault and fault["kind"] == "partial":
            qty = min(float(fault.get("quantity") or math.floor(order["quantity"] / 2) or 1), order["quantity"])
            order["hold"] = True
            self._execute(order, qty, fault.get("price") or self._touch(order), liquidity=2)
            return
        self._work(order, first=True)

    def _activate(self, order: dict) -> None:
        """Make ``order`` Submitted (working at the destination) and tell its owner."""
        order["status"] = "Submitted"
        # Indexed per symbol so a market step looks only at that symbol's working orders.
        self.resting.setdefault(order["symbol"], {})[order["perm_id"]] = order
        self._to_owner(
            order, [("openOrder", enc.open_order(order, "Submitted")), ("orderStatus", self._status_frame(order))]
        )

    def _modify(self, session: Session, order: dict, po: PlaceOrder) -> None:
        if order["status"] == "Filled":
            self._error(session, po.order_id, 104, "Can't modify a filled order.")
            return
        if order["status"] not in WORKING and order["status"] != HELD:
            self._error(session, po.order_id, 103, "Duplicate order ID.")
            return
        if po.symbol != order["symbol"] or po.action != order["action"]:
            self._error(session, po.order_id, 105, "Order being modified does not match original order.")
            return
        if po.order_type not in ORDER_TYPES:
            self._error(
                session,
                po.order_id,
                321,
                f"Error validating request:-'bN' : cause - Unsupported order type: {po.order_type}",
            )
            return
        for price in (po.lmt_price, po.aux_price):
            if price is not None and not self.market.on_tick(po.symbol, price):
                self._error(
                    session,
                    po.order_id,
                    110,
                    "The price does not conform to the minimum price variation for this contract.",
                )
                return
        if po.quantity < order["filled"] or po.quantity <= 0:
            self._error(
                session,
                po.order_id,
                321,
                "Error validating request:-'bN' : cause - The order size cannot be below the filled size",
            )
            return
        order["quantity"] = po.quantity
        order["oca_base"] = po.quantity
        order["order_type"] = po.order_type
        order["lmt_price"] = po.lmt_price if po.order_type in ("LMT", "STP LMT") else None
        order["aux_price"] = po.aux_price if "STP" in po.order_type else None
        order["tif"] = po.tif or order["tif"]
        order["outside_rth"] = po.outside_rth
        self.dirty = True
        if order["status"] == HELD:
            if po.transmit:
                self.chains.transmit(order)
            return
        self._to_owner(
            order, [("openOrder", enc.open_order(order, order["status"])), ("orderStatus", self._status_frame(order))]
        )
        if order["status"] == "Submitted":
            self._work(order, first=False)

    def cancel_order(self, session: Session, order_id: int) -> None:
        """Handle cancelOrder: the cancel sequence, 10147 for an unknown order, 10148 for a final one."""
        order = self.orders.get((session.client_id, order_id))
        if order is None:
            self._error(session, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        if (order["status"] not in WORKING and order["status"] != HELD) or order["status"] == "PendingCancel":
            self._error(
                session,
                order_id,
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order['status']}.",
            )
            return
        self._cancel(order)

    def _cancel(self, order: dict, *, requested: bool = True) -> None:
        """Cancel ``order`` (``requested``: by its client, through PendingCancel) and what hangs on it."""
        if order["status"] == HELD or (
            order["status"] in ("PendingSubmit", "PreSubmitted") and order["filled"] == 0 and not order.get("waiting")
        ):
            # Not yet working at the destination: TWS reports the API-side cancel.
            order["status"] = "ApiCancelled"
            items = [("orderStatus", self._status_frame(order))]
        else:
            items = [("orderStatus", self._status_frame(order, "PendingCancel"))] if requested else []
            order["status"] = "Cancelled"
            items.append(("orderStatus", self._status_frame(order)))
        items.append(("error", enc.error(order["order_id"], 202, "Order Canceled - reason:")))
        self.dirty = True
        self._to_owner(order, items)
        self.chains.on_cancel(order)

    def global_cancel(self) -> None:
        """Cancel every working (and every untransmitted) order of every client."""
        for order in list(self.orders.values()):
            if (order["status"] in WORKING or order["status"] == HELD) and order["status"] != "PendingCancel":
                self._cancel(order)

    # -- matching ------------------------------------------------------------------------------

    def _touch(self, order: dict) -> float:
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

    def _work(self, order: dict, *, first: bool) -> None:
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
        remaining = self.chains.open_quantity(order)
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
        self._execute(order, qty, price, liquidity=1 if resting else 2)
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

    # -- executions ----------------------------------------------------------------------------

    def _new_exec_id(self) -> str:
        seq = self.next_exec_seq
        self.next_exec_seq += 1
        return f"{self.exec_prefix}.{seq:08x}.01.01"

    def _commission(self, order: dict, qty: float) -> float:
        """IB fixed pricing: $0.005/share with a $1 minimum per order, charged as the order fills."""
        cfg = self.config
        owed = max(cfg.commission_minimum, cfg.commission_per_share * (order["filled"]))
        charged = round(max(0.0, owed - order["commission_charged"]), 6)
        order["commission_charged"] += charged
        return charged

    def _execute(self, order: dict, qty: float, price: float, *, liquidity: int) -> dict:
        """Book one execution of ``order`` and tell its owner and the position subscribers."""
        now = time.time()
        prev = order["filled"]
        order["filled"] = prev + qty
        order["avg_fill_price"] = round((order["avg_fill_price"] * prev + price * qty) / order["filled"], 8)
        order["last_fill_price"] = price
        commission = self._commission(order, qty)
        side = ACTIONS[order["action"]]
        realized = self._book_position(
            order["account"], order["symbol"], qty if side == "BOT" else -qty, price, commission
        )
        execution = {
            "exec_id": self._new_exec_id(),
            "order_id": order["order_id"],
            "client_id": order["client_id"],
            "perm_id": order["perm_id"],
            "con_id": order["con_id"],
            "symbol": order["symbol"],
            "exchange": order["exchange"],
            "venue": "ISLAND",
            "currency": order["currency"],
            "account": order["account"],
            "side": side,
            "shares": qty,
            "price": price,
            "cum_qty": order["filled"],
            "avg_price": order["avg_fill_price"],
            "order_ref": order["order_ref"],
            "time": _fmt_time(now),
            "epoch": now,
            "commission": commission,
            "realized_pnl": realized,
            "last_liquidity": liquidity,
            "external": order["external"],
        }
        self.executions.append(execution)
        self.ledger.record_execution(execution)
        final = order["filled"] >= order["quantity"] - 1e-9
        items = [("execDetails", enc.exec_details(req_id=-1, execution=execution))]
        if final:
            order["status"] = "Filled"
            items.append(("openOrder", enc.open_order(order, "Filled")))
        items.append(("orderStatus", self._status_frame(order)))
        items.append(("commissionReport", self._commission_frame(execution)))
        self.dirty = True
        self._to_owner(order, items)
        self._publish_position(order["account"], order["symbol"])
        self.chains.on_fill(order)
        return execution

    @staticmethod
    def _commission_frame(execution: dict) -> bytes:
        return enc.commission_report(
            exec_id=execution["exec_id"],
            commission=execution["commission"],
            currency=execution["currency"],
            realized_pnl=execution["realized_pnl"],
        )

    def _book_position(
        self, account: str, symbol: str, signed_qty: float, price: float, commission: float
    ) -> float | None:
        """Move position, average cost (commission included) and cash; return realized P&L or None."""
        key = (account, symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = {
                "account": account,
                "symbol": symbol,
                "con_id": self.market.quotes[symbol].con_id,
                "quantity": 0.0,
                "avg_cost": 0.0,
            }
            self.positions[key] = pos
        self.cash[account] -= signed_qty * price + commission
        old = pos["quantity"]
        new = old + signed_qty
        realized = None
        if old == 0 or (old > 0) == (signed_qty > 0):
            pos["avg_cost"] = (pos["avg_cost"] * abs(old) + price * abs(signed_qty) + commission) / abs(new)
        else:
            closed = min(abs(old), abs(signed_qty))
            direction = 1 if old > 0 else -1
            realized = round((price - pos["avg_cost"]) * closed * direction - commission, 6)
            self.realized[account] += realized
            if abs(signed_qty) > abs(old):  # flipped: the rest opens at this price
                pos["avg_cost"] = price
            elif new == 0:
                pos["avg_cost"] = 0.0
        pos["quantity"] = new
        return realized

    def _publish_position(self, account: str, symbol: str) -> None:
        frame = self._position_frame(self.positions[(account, symbol)])
        for session in list(self.sessions.values()):
            if session.positions_subscribed:
                session.send([frame])

    @staticmethod
    def _position_frame(pos: dict) -> bytes:
        return enc.position(
            account=pos["account"],
            con_id=pos["con_id"],
            symbol=pos["symbol"],
            currency="USD",
            quantity=pos["quantity"],
            avg_cost=pos["avg_cost"],
        )

    def position_frames(self) -> list[bytes]:
        """Every tracked position (zero ones included), then positionEnd."""
        return [self._position_frame(p) for p in self.positions.values()] + [enc.position_end()]

    def execution_frames(self, req_id: int, flt: ExecutionFilter) -> list[bytes]:
        """execDetails + commissionReport for each matching execution, then execDetailsEnd."""
        after = _parse_filter_time(flt.time)
        out: list[bytes] = []
        for e in self.executions:
            if flt.client_id and e["client_id"] != flt.client_id:
                continue
            if flt.account and e["account"] != flt.account:
                continue
            if flt.symbol and e["symbol"] != flt.symbol:
                continue
            if flt.sec_type and flt.sec_type != "STK":
                continue
            if flt.exchange and flt.exchange not in (e["exchange"], e["venue"]):
                continue
            if flt.side and ACTIONS.get(flt.side.upper(), flt.side.upper()) != e["side"]:
                continue
            if after is not None and e["epoch"] < after:
                continue
            out.append(enc.exec_details(req_id=req_id, execution=e))
            out.append(self._commission_frame(e))
        out.append(enc.exec_details_end(req_id))
        return out

    # -- account values ------------------------------------------------------------------------

    def account_values(self, account: str) -> dict[str, float]:
        """The account's money figures marked to the last price (a 25% margin model)."""
        gross = unreal = market_value = 0.0
        for pos in self.positions.values():
            if pos["account"] != account or pos["quantity"] == 0:
                continue
            mark = self.market.quotes[pos["symbol"]].mark
            market_value += pos["quantity"] * mark
            gross += abs(pos["quantity"] * mark)
            unreal += pos["quantity"] * (mark - pos["avg_cost"])
        cash = self.cash[account]
        net = cash + market_value
        margin = 0.25 * gross
        available = net - margin
        return {
            "NetLiquidation": net,
            "TotalCashValue": cash,
            "SettledCash": cash,
            "BuyingPower": max(0.0, available) * 4,
            "AvailableFunds": available,
            "ExcessLiquidity": available,
            "GrossPositionValue": gross,
            "EquityWithLoanValue": net,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "UnrealizedPnL": unreal,
            "RealizedPnL": self.realized[account],
        }

    def account_summary_frames(self, req_id: int, tags: list[str]) -> list[bytes]:
        """One accountSummary per (account, tag), then accountSummaryEnd."""
        out: list[bytes] = []
        for account in self.config.accounts:
            values = self.account_values(account)
            for tag in tags:
                if tag == "AccountType":
                    out.append(enc.account_summary(req_id, account, tag, "INDIVIDUAL", ""))
                elif tag in values:
                    out.append(enc.account_summary(req_id, account, tag, _money(values[tag]), "USD"))
        out.append(enc.account_summary_end(req_id))
        return out

    # -- external orders -----------------------------------------------------------------------

    def inject_external_fill(
        self, *, account: str, symbol: str, action: str, quantity: float, price: float | None
    ) -> dict:
        """Book an order entered outside the API (orderId 0, clientId 0, no orderRef) and fill it.

        :raises KeyError: unknown symbol or account.
        :raises ValueError: bad action or quantity.
        """
        if account not in self.cash:
            raise KeyError(f"unknown account {account}")
        quote = self.market.quotes[symbol]
        if action not in ACTIONS or not quantity > 0:
            raise ValueError("action must be BUY/SELL and quantity positive")
        order = {
            "order_id": 0,
            "client_id": 0,
            "perm_id": self._new_perm_id(),
            "con_id": quote.con_id,
            "symbol": symbol,
            "exchange": "SMART",
            "currency": "USD",
            "account": account,
            "action": action,
            "quantity": float(quantity),
            "order_type": "MKT",
            "lmt_price": None,
            "aux_price": None,
            "tif": "DAY",
            "oca_group": "",
            "order_ref": "",
            "parent_id": 0,
            "outside_rth": False,
            "transmit": True,
            "status": "Submitted",
            "filled": 0.0,
            "avg_fill_price": 0.0,
            "last_fill_price": 0.0,
            "commission_charged": 0.0,
            "triggered": False,
            "hold": False,
            "external": True,
        }
        # Keyed by permId so several external orders (all orderId 0) can coexist.
        self.orders[(-1, order["perm_id"])] = order
        self.orders_by_perm[order["perm_id"]] = order
        execution = self._execute(
            order, float(quantity), price if price is not None else self._touch(order), liquidity=2
        )
        return {"perm_id": order["perm_id"], "exec_id": execution["exec_id"], "price": execution["price"]}

    def correct_execution(self, exec_id: str | None = None) -> dict:
        """Re-issue an execution (the last one by default) as a correction: same fill, execId suffix + 1.

        The correction replaces the original in reqExecutions; it is sent live to the order's owner.

        :raises KeyError: no such execution.
        """
        matches = [i for i, e in enumerate(self.executions) if exec_id is None or e["exec_id"] == exec_id]
        if not matches:
            raise KeyError(f"no execution {exec_id}")
        index = matches[-1]
        original = self.executions[index]
        stem, _, revision = original["exec_id"].rpartition(".")
        corrected = dict(original, exec_id=f"{stem}.{int(revision) + 1:02d}", correction_of=original["exec_id"])
        self.executions[index] = corrected
        self.ledger.record_execution(corrected)
        self.dirty = True
        owner = {"client_id": corrected["client_id"]}
        self._to_owner(
            owner,
            [
                ("execDetails", enc.exec_details(req_id=-1, execution=corrected)),
                ("commissionReport", self._commission_frame(corrected)),
            ],
        )
        return {"exec_id": corrected["exec_id"], "correction_of": original["exec_id"]}

    def fill_order(self, *, client_id: int, order_id: int, quantity: float | None, price: float | None) -> dict:
        """Fill a working order now (all of it, or ``quantity``), whatever the market.

        :raises KeyError: no such working order.
        """
        order = self.orders.get((client_id, order_id))
        if order is None or order["status"] not in WORKING:
            raise KeyError(f"no working order {order_id} of client {client_id}")
        qty = min(order["quantity"] - order["filled"], quantity or order["quantity"])
        execution = self._execute(order, qty, price if price is not None else self._touch(order), liquidity=2)
        return {"exec_id": execution["exec_id"], "price": execution["price"], "shares": qty}


def _parse_filter_time(text: str) -> float | None:
    """reqExecutions time filter ``yyyymmdd-hh:mm:ss`` (or with a space), read as UTC; None if empty/bad."""
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y%m%d-%H:%M:%S", "%Y%m%d %H:%M:%S"):
        try:
            return float(calendar.timegm(time.strptime(text[:17], fmt)))
        except ValueError:
            continue
    return None
