"""The paper broker's books: executions and commissions, positions, cash and account values.

It runs on the simulator's event-loop thread only (no locks), as the rest of the engine does.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping

from tws_simulator import encoder as enc
from tws_simulator.config import SimulatorConfig
from tws_simulator.ledger import Ledger
from tws_simulator.market import Market
from tws_simulator.parser import ExecutionFilter
from tws_simulator.ports import Session

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


def summary_tags(text: str) -> list[str]:
    """The tags of a reqAccountSummary; ``$LEDGER`` (and ``$LEDGER:...``) stands for every money tag."""
    tags: list[str] = []
    for tag in (t.strip() for t in text.split(",")):
        if tag.startswith("$LEDGER"):
            tags += [t for t in SUMMARY_TAGS if t != "AccountType"]
        elif tag and tag not in tags:
            tags.append(tag)
    return tags


def tell_owner(sessions: Mapping[int, Session], client_id: int, items: list[tuple[str, bytes]]) -> None:
    """Send order messages to the connected client ``client_id``, if it is connected."""
    session = sessions.get(client_id)
    if session is not None:
        session.send_order_messages(items)


def commission_frame(execution: dict) -> bytes:
    """The commissionReport of one execution record."""
    return enc.commission_report(
        exec_id=execution["exec_id"],
        commission=execution["commission"],
        currency=execution["currency"],
        realized_pnl=execution["realized_pnl"],
    )


class Portfolio:
    """Executions, positions, cash and realized P&L per account, and the frames that report them."""

    def __init__(
        self,
        config: SimulatorConfig,
        market: Market,
        ledger: Ledger,
        sessions: Mapping[int, Session],
        *,
        exec_prefix: str,
        next_exec_seq: int,
    ) -> None:
        self.config = config
        self.market = market
        self.ledger = ledger
        self.sessions = sessions
        self.executions: list[dict] = []
        self.positions: dict[tuple[str, str], dict] = {}
        self.cash: dict[str, float] = {a: float(config.starting_cash) for a in config.accounts}
        self.realized: dict[str, float] = dict.fromkeys(config.accounts, 0.0)
        self.exec_prefix = exec_prefix
        self.next_exec_seq = next_exec_seq
        self.dirty = False

    def has_account(self, account: str) -> bool:
        return account in self.cash

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The books' part of the engine's snapshot."""
        return {
            "executions": self.executions,
            "positions": list(self.positions.values()),
            "cash": self.cash,
            "realized": self.realized,
            "exec_prefix": self.exec_prefix,
            "next_exec_seq": self.next_exec_seq,
        }

    def restore(self, data: dict) -> None:
        """Load the books' part of a snapshot; accounts not in it keep the configured cash."""
        self.executions = list(data.get("executions", []))
        for pos in data.get("positions", []):
            self.positions[(pos["account"], pos["symbol"])] = pos
        self.cash.update(data.get("cash", {}))
        self.realized.update(data.get("realized", {}))
        self.exec_prefix = data.get("exec_prefix", self.exec_prefix)
        self.next_exec_seq = data.get("next_exec_seq", self.next_exec_seq)

    # -- executions ----------------------------------------------------------------------------

    def _new_exec_id(self) -> str:
        seq = self.next_exec_seq
        self.next_exec_seq += 1
        return f"{self.exec_prefix}.{seq:08x}.01.01"

    def _commission(self, order: dict) -> float:
        """IB fixed pricing: $0.005/share with a $1 minimum per order, charged as the order fills."""
        cfg = self.config
        owed = max(cfg.commission_minimum, cfg.commission_per_share * (order["filled"]))
        charged = round(max(0.0, owed - order["commission_charged"]), 6)
        order["commission_charged"] += charged
        return charged

    def book_execution(self, order: dict, qty: float, price: float, *, liquidity: int, now: float) -> dict:
        """Charge commission on a fill of ``qty`` already counted in ``order``, move the position, record it."""
        commission = self._commission(order)
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
        self.dirty = True
        return execution

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
        tell_owner(
            self.sessions,
            corrected["client_id"],
            [
                ("execDetails", enc.exec_details(req_id=-1, execution=corrected)),
                ("commissionReport", commission_frame(corrected)),
            ],
        )
        return {"exec_id": corrected["exec_id"], "correction_of": original["exec_id"]}

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
            out.append(commission_frame(e))
        out.append(enc.exec_details_end(req_id))
        return out

    # -- positions -----------------------------------------------------------------------------

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

    def publish_position(self, account: str, symbol: str) -> None:
        """Send the position of ``symbol`` in ``account`` to every client subscribed to positions, and tell
        every client (those subscribed to the account's updates push its portfolio line)."""
        frame = _position_frame(self.positions[(account, symbol)])
        for session in list(self.sessions.values()):
            if session.positions_subscribed:
                session.send([frame])
            session.on_position_change(account, symbol)

    def position_frames(self) -> list[bytes]:
        """Every tracked position (zero ones included), then positionEnd."""
        return [_position_frame(p) for p in self.positions.values()] + [enc.position_end()]

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

    def margin_reject(self, order: dict) -> dict | None:
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


def _position_frame(pos: dict) -> bytes:
    return enc.position(
        account=pos["account"],
        con_id=pos["con_id"],
        symbol=pos["symbol"],
        currency="USD",
        quantity=pos["quantity"],
        avg_cost=pos["avg_cost"],
    )


def _fmt_time(epoch: float) -> str:
    return time.strftime("%Y%m%d %H:%M:%S", time.gmtime(epoch)) + " UTC"


def _money(value: float) -> str:
    return f"{value:.2f}"


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
