"""reqAccountUpdates and reqCompletedOrders as TWS answers them, read from the paper broker's books.

Account updates: updateAccountValue per key, updatePortfolio per open position of the account,
updateAccountTime, then accountDownloadEnd; a subscription is refreshed with the account summaries'
timer. Completed orders: one completedOrder per order that reached Filled, Cancelled, ApiCancelled
or Inactive, then completedOrdersEnd (``apiOnly`` leaves out orders entered outside the API).
"""

from __future__ import annotations

import time

from tws_simulator.market import Market
from tws_simulator.wire import frame_values

REQ_ACCOUNT_UPDATES = 6
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99
COMPLETED = ("Filled", "Cancelled", "ApiCancelled", "Inactive")


def account_update_frames(
    account: str, values: dict[str, float], positions: list[dict], market: Market, now: float, *, changed: str = ""
) -> list[bytes]:
    """The account download of ``account``: its values, its non-zero positions, the time, then the end marker.

    ``positions`` are the broker's position records (account, symbol, con_id, quantity, avg_cost).
    With ``changed`` (a symbol) it is the update TWS pushes when that position moved: the values,
    that position (zero too, once closed) and the time, without the end marker.
    """
    frames = [
        _value("AccountCode", account, "", account),
        _value("AccountType", "INDIVIDUAL", "", account),
        _value("Currency", "USD", "USD", account),
    ]
    frames += [_value(key, f"{value:.2f}", "USD", account) for key, value in values.items()]
    frames.append(_value("CashBalance", f"{values['TotalCashValue']:.2f}", "USD", account))
    for pos in positions:
        if pos["account"] != account or (pos["symbol"] != changed if changed else pos["quantity"] == 0):
            continue
        mark = market.quotes[pos["symbol"]].mark
        value = pos["quantity"] * mark
        unrealized = round(pos["quantity"] * (mark - pos["avg_cost"]), 2)
        contract = [pos["con_id"], pos["symbol"], "STK", "", 0.0, "", "", "NASDAQ", "USD", pos["symbol"], "NMS"]
        money = [float(pos["quantity"]), mark, round(value, 2), pos["avg_cost"], unrealized, 0.0]
        frames.append(frame_values(7, 8, *contract, *money, account))
    frames.append(frame_values(8, 1, time.strftime("%H:%M", time.localtime(now))))
    if not changed:
        frames.append(frame_values(54, 1, account))
    return frames


def account_update_multi_frames(req_id: int, account: str, values: dict[str, float]) -> list[bytes]:
    """reqAccountUpdatesMulti's answer: accountUpdateMulti per value (model code empty), then accountUpdateMultiEnd."""
    rows = [("AccountCode", account, ""), ("Currency", "USD", "USD")]
    rows += [(key, f"{value:.2f}", "USD") for key, value in values.items()]
    frames = [frame_values(73, 1, req_id, account, "", key, value, currency) for key, value, currency in rows]
    frames.append(frame_values(74, 1, req_id))
    return frames


def _value(key: str, value: str, currency: str, account: str) -> bytes:
    return frame_values(6, 2, key, value, currency, account)


def completed_order_frames(orders: list[dict], executions: list[dict], *, api_only: bool) -> list[bytes]:
    """completedOrder for each finished order (oldest permId first), then completedOrdersEnd."""
    last_fill: dict[int, float] = {}
    for execution in executions:
        last_fill[execution["perm_id"]] = execution["epoch"]
    done = [o for o in orders if o["status"] in COMPLETED and not (api_only and o["external"])]
    frames = [completed_order(o, last_fill.get(o["perm_id"])) for o in sorted(done, key=lambda o: o["perm_id"])]
    frames.append(frame_values(102))
    return frames


def completed_order(o: dict, completed_at: float | None) -> bytes:
    """completedOrder at 157 (no version field): the fields ibapi's processCompletedOrderMsg reads, in its order."""
    when = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(completed_at)) + " UTC" if completed_at else ""
    unset = ""  # read with SHOW_UNSET: empty means unset
    price = "" if o["lmt_price"] is None else float(o["lmt_price"])
    aux = "" if o["aux_price"] is None else float(o["aux_price"])
    return frame_values(
        101,
        o["con_id"], o["symbol"], "STK", "", 0.0, "", "", o["exchange"], o["currency"], o["symbol"], "NMS",
        o["action"], float(o["quantity"]), o["order_type"], price, aux, o["tif"], o["oca_group"], o["account"],
        "O", 0, o["order_ref"], o["perm_id"], int(o["outside_rth"]), 0, 0.0, "",  # openClose .. goodAfterTime
        "", "", "", "",  # faGroup, faMethod, faPercentage, faProfile
        "", "", "", unset, "",  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
        0, "", -1,  # shortSaleSlot, designatedLocation, exemptCode
        unset, unset, unset, unset, unset,  # startingPrice, stockRefPrice, delta, stockRangeLower/Upper
        0, 0, 0, unset, 3, 0,  # displaySize, sweepToFill, allOrNone, minQty, ocaType, triggerMethod
        unset, 0, "", unset, 0, 0,  # volatility, volatilityType, deltaNeutralOrderType, ..AuxPrice, continuous, ref
        unset, unset,  # trailStopPrice, trailingPercent
        "", 0, 0, 0,  # comboLegsDescrip, comboLegs, orderComboLegs, smartComboRoutingParams
        unset, unset, unset,  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "", "", "", 0, 0, "", 0,  # hedgeType, clearingAccount, clearingIntent, notHeld, deltaNeutral, algo, solicited
        o["status"], 0, 0,  # status, randomizeSize, randomizePrice
        0,  # conditions
        0.0, 0.0,  # trailStopPrice, lmtPriceOffset
        unset, 0, 0,  # cashQty, dontUseAutoPriceForHedge, isOmsContainer
        "", float(o["filled"]), 0, 0, "", 0, 0, 0,  # autoCancelDate .. parentPermId
        when, o["status"],
    )  # fmt: skip
