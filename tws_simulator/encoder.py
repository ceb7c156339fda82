"""Server-to-client messages at server version 157, one function each, laid out as ibapi 9.81 decodes them.

Every function returns framed bytes. Messages the decoder maps straight onto an EWrapper method carry
exactly msgId, version and one field per wrapper parameter (anything else is silently dropped by the
client); the others follow their dedicated decode routines field for field (tws-protocol.md §5).
"""

from __future__ import annotations

import struct

from tws_simulator.wire import UNSET_DOUBLE_TEXT, field, frame, frame_values


def _price(value: float | None) -> str:
    """A price slot the decoder reads with SHOW_UNSET: empty when unset."""
    return "" if value is None else repr(float(value))


def next_valid_id(order_id: int) -> bytes:
    return frame_values(9, 1, order_id)


def managed_accounts(accounts: list[str]) -> bytes:
    return frame_values(15, 1, ",".join(accounts))


def error(req_id: int, code: int, text: str) -> bytes:
    """error at 157: exactly five fields (no advancedOrderRejectJson, that is 166+)."""
    return frame_values(4, 2, req_id, code, text)


def current_time(epoch_seconds: int) -> bytes:
    return frame_values(49, 1, epoch_seconds)


def open_order_end() -> bytes:
    return frame_values(53, 1)


def exec_details_end(req_id: int) -> bytes:
    return frame_values(55, 1, req_id)


def position_end() -> bytes:
    return frame_values(62, 1)


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return frame_values(63, 1, req_id, account, tag, value, currency)


def account_summary_end(req_id: int) -> bytes:
    return frame_values(64, 1, req_id)


def tick_price(req_id: int, tick_type: int, price: float, size: int, attr_mask: int = 0) -> bytes:
    """tickPrice; the client also calls tickSize for BID/ASK/LAST (and delayed) types with ``size``."""
    return frame_values(1, 6, req_id, tick_type, float(price), int(size), attr_mask)


def tick_size(req_id: int, tick_type: int, size: int) -> bytes:
    """tickSize; the size must be integer text, 9.81 decodes it with int()."""
    return frame_values(2, 6, req_id, tick_type, int(size))


def tick_generic(req_id: int, tick_type: int, value: float) -> bytes:
    return frame_values(45, 6, req_id, tick_type, float(value))


def tick_string(req_id: int, tick_type: int, value: str) -> bytes:
    return frame_values(46, 6, req_id, tick_type, value)


def tick_snapshot_end(req_id: int) -> bytes:
    return frame_values(57, 1, req_id)


def market_data_type(req_id: int, data_type: int) -> bytes:
    return frame_values(58, 1, req_id, data_type)


def order_status(
    *,
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    parent_id: int,
    last_fill_price: float,
    client_id: int,
    why_held: str = "",
    mkt_cap_price: float = 0.0,
) -> bytes:
    """orderStatus at >= 131: twelve fields, no version field."""
    return frame(
        [
            "3",
            str(order_id),
            status,
            repr(float(filled)),
            repr(float(remaining)),
            repr(float(avg_fill_price)),
            str(perm_id),
            str(parent_id),
            repr(float(last_fill_price)),
            str(client_id),
            why_held,
            repr(float(mkt_cap_price)),
        ]
    )


def exec_details(*, req_id: int, execution: dict) -> bytes:
    """execDetails at >= 136: 31 fields, no version field. ``execution`` is an engine execution record."""
    e = execution
    return frame(
        [
            "11",
            str(req_id),
            str(e["order_id"]),
            str(e["con_id"]),
            field(e["symbol"]),
            "STK",
            "",
            "0.0",
            "",
            "",
            field(e["exchange"]),
            field(e["currency"]),
            field(e["symbol"]),
            field(e["symbol"]),
            e["exec_id"],
            e["time"],
            field(e["account"]),
            field(e["venue"]),
            e["side"],
            repr(float(e["shares"])),
            repr(float(e["price"])),
            str(e["perm_id"]),
            str(e["client_id"]),
            "0",
            repr(float(e["cum_qty"])),
            repr(float(e["avg_price"])),
            field(e["order_ref"]),
            "",
            "",
            "",
            str(e["last_liquidity"]),
        ]
    )


def commission_report(*, exec_id: str, commission: float, currency: str, realized_pnl: float | None) -> bytes:
    """commissionReport; an unknown realized P&L (opening fills) is Double.MAX as real TWS sends it."""
    realized = UNSET_DOUBLE_TEXT if realized_pnl is None else repr(float(realized_pnl))
    return frame(["59", "1", exec_id, repr(float(commission)), currency, realized, UNSET_DOUBLE_TEXT, ""])


def position(*, account: str, con_id: int, symbol: str, currency: str, quantity: float, avg_cost: float) -> bytes:
    """position (version 3): sixteen fields; the exchange slot is empty as in real captures."""
    return frame(
        [
            "61",
            "3",
            field(account),
            str(con_id),
            field(symbol),
            "STK",
            "",
            "0.0",
            "",
            "",
            "",
            field(currency),
            field(symbol),
            field(symbol),
            repr(float(quantity)),
            repr(float(avg_cost)),
        ]
    )


def _open_order_fields(o: dict, status: str) -> list[str]:
    """The 120 openOrder fields, index by index (tws-protocol.md §5.6); the readable source of the layout."""
    return [
        "5",
        str(o["order_id"]),
        str(o["con_id"]),
        field(o["symbol"]),
        "STK",
        "",
        "0.0",
        "",
        "",
        field(o["exchange"]),
        field(o["currency"]),
        field(o["symbol"]),  # localSymbol
        field(o["symbol"]),  # tradingClass
        o["action"],
        repr(float(o["quantity"])),
        o["order_type"],
        _price(o["lmt_price"]),
        _price(o["aux_price"]),
        field(o["tif"]),
        field(o["oca_group"]),
        field(o["account"]),
        "",  # openClose
        "0",  # origin: customer
        field(o["order_ref"]),
        str(o["client_id"]),
        str(o["perm_id"]),
        "1" if o["outside_rth"] else "0",
        "0",  # hidden
        "0.0",  # discretionaryAmt
        "",  # goodAfterTime
        "",  # sharesAllocation
        "",
        "",
        "",
        "",  # faGroup, faMethod, faPercentage, faProfile
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        "0",  # shortSaleSlot
        "",  # designatedLocation
        "-1",  # exemptCode
        "0",  # auctionStrategy
        "",
        "",
        "",
        "",
        "",  # startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
        "0",  # displaySize
        "0",  # blockOrder
        "0",  # sweepToFill
        "0",  # allOrNone
        "",  # minQty
        str(o.get("oca_type") or 3),  # ocaType: what the client sent; TWS reports its default 3 for 0
        "0",  # eTradeOnly
        "0",  # firmQuoteOnly
        "",  # nbboPriceCap
        str(o["parent_id"]),
        "0",  # triggerMethod
        "",  # volatility
        "0",  # volatilityType
        "",  # deltaNeutralOrderType (empty: no 8 extra fields)
        "",  # deltaNeutralAuxPrice
        "0",  # continuousUpdate
        "0",  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # basisPoints
        "",  # basisPointsType
        "",  # comboLegsDescrip
        "0",  # comboLegsCount
        "0",  # orderComboLegsCount
        "0",  # smartComboRoutingParamsCount
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        "0",  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        "0",  # notHeld
        "0",  # deltaNeutralContract present
        "",  # algoStrategy
        "0",  # solicited
        "0",  # whatIf
        status,
        "",
        "",
        "",
        "",
        "",
        "",  # margin before/change
        "",
        "",
        "",  # margin after
        "",  # commission
        "",  # minCommission
        "",  # maxCommission
        "",  # commissionCurrency
        "",  # warningText
        "0",  # randomizeSize
        "0",  # randomizePrice
        "0",  # conditions count
        "",  # adjustedOrderType
        UNSET_DOUBLE_TEXT,  # triggerPrice
        UNSET_DOUBLE_TEXT,  # trailStopPrice (overwrites the earlier slot)
        UNSET_DOUBLE_TEXT,  # lmtPriceOffset
        UNSET_DOUBLE_TEXT,  # adjustedStopPrice
        UNSET_DOUBLE_TEXT,  # adjustedStopLimitPrice
        UNSET_DOUBLE_TEXT,  # adjustedTrailingAmount
        "0",  # adjustableTrailingUnit
        "",
        "",
        "",  # softDollarTier name, value, displayName
        UNSET_DOUBLE_TEXT,  # cashQty
        "0",  # dontUseAutoPriceForHedge
        "0",  # isOmsContainer
        "0",  # discretionaryUpToLimitPrice
        "0",  # usePriceMgmtAlgo
    ]


# Only fields 1-26, 54 (ocaType), 58 (parentId) and 86 (status) vary for the orders the simulator accepts; the rest is
# joined once here, so an openOrder costs a short join instead of 120 conversions.
_T = _open_order_fields(
    {
        "order_id": 0,
        "con_id": 0,
        "symbol": "",
        "exchange": "",
        "currency": "",
        "action": "",
        "quantity": 0.0,
        "order_type": "",
        "lmt_price": None,
        "aux_price": None,
        "tif": "",
        "oca_group": "",
        "account": "",
        "order_ref": "",
        "client_id": 0,
        "perm_id": 0,
        "outside_rth": False,
        "parent_id": 0,
    },
    "",
)
assert len(_T) == 120
_MID1 = "\0".join(_T[27:54])
_MID1B = "\0".join(_T[55:58])
_MID2 = "\0".join(_T[59:86])
_TAIL = "\0".join(_T[87:])
_LEN_PREFIX = struct.Struct("!I")


def open_order(order: dict, status: str) -> bytes:
    """openOrder at >= 145: 120 fields for a plain (non-combo, non-algo, unconditional) order.

    ``order`` is an engine order record whose text fields were checked printable ASCII when parsed;
    what the client sent is echoed, the rest is left at the defaults TWS reports for such an order.
    """
    o = order
    sym = o["symbol"]
    lmt = o["lmt_price"]
    aux = o["aux_price"]
    payload = (
        "\0".join(
            (
                "5",
                str(o["order_id"]),
                str(o["con_id"]),
                sym,
                "STK",
                "",
                "0.0",
                "",
                "",
                o["exchange"],
                o["currency"],
                sym,
                sym,
                o["action"],
                repr(float(o["quantity"])),
                o["order_type"],
                "" if lmt is None else repr(float(lmt)),
                "" if aux is None else repr(float(aux)),
                o["tif"],
                o["oca_group"],
                o["account"],
                "",
                "0",
                o["order_ref"],
                str(o["client_id"]),
                str(o["perm_id"]),
                "1" if o["outside_rth"] else "0",
                _MID1,
                str(o.get("oca_type") or 3),
                _MID1B,
                str(o["parent_id"]),
                _MID2,
                status,
                _TAIL,
            )
        )
        + "\0"
    )
    data = payload.encode("ascii")
    return _LEN_PREFIX.pack(len(data)) + data
