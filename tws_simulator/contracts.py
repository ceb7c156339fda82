"""The contract catalogue as TWS describes it: contractDetails and symbolSamples (reqMatchingSymbols).

At server version 157 contractData carries minTick and mdSizeMultiplier; sizeIncrement and minSize
arrive only from 164 (MIN_SERVER_VER_SIZE_RULES), so they are not sent (the catalogue keeps them
for when a newer version is served).
"""

from __future__ import annotations

from dataclasses import dataclass

from tws_simulator import parser as p
from tws_simulator.history import UNKNOWN_CONTRACT, contract_at, known, symbol_of
from tws_simulator.market import Market
from tws_simulator.trading_hours import TradingHours
from tws_simulator.wire import frame_values

REQ_CONTRACT_DATA = 9
REQ_MATCHING_SYMBOLS = 81
MAX_SAMPLES = 16
ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,DAY,GTC,IOC,LIT,LMT,MKT,MIT,OCA,STP,STPLMT,TRAIL"
VALID_EXCHANGES = "SMART,AMEX,NYSE,BATS,ARCA,ISLAND,IEX,NASDAQ"


@dataclass(frozen=True, slots=True)
class Listing:
    """What the catalogue knows of one stock beyond its quote."""

    long_name: str
    primary_exchange: str
    industry: str = "Technology"
    category: str = "Computers"
    stock_type: str = "COMMON"
    size_increment: float = 1.0
    min_size: float = 1.0


LISTINGS = {
    "AAPL": Listing("APPLE INC", "NASDAQ"),
    "MSFT": Listing("MICROSOFT CORP", "NASDAQ", category="Software"),
    "AMZN": Listing("AMAZON.COM INC", "NASDAQ", industry="Communications", category="Internet"),
    "NVDA": Listing("NVIDIA CORP", "NASDAQ", category="Semiconductors"),
    "TSLA": Listing("TESLA INC", "NASDAQ", industry="Consumer, Cyclical", category="Auto Manufacturers"),
    "IBM": Listing("INTL BUSINESS MACHINES CORP", "NYSE"),
    "SPY": Listing("SPDR S&P 500 ETF TRUST", "ARCA", industry="Funds", category="Equity Fund", stock_type="ETF"),
    "QQQ": Listing("INVESCO QQQ TRUST SERIES 1", "NASDAQ", industry="Funds", category="Equity Fund", stock_type="ETF"),
}


def listing(symbol: str) -> Listing:
    """The catalogue entry of ``symbol`` (a configured instrument without one is listed on NASDAQ by its symbol)."""
    return LISTINGS.get(symbol) or Listing(f"{symbol} (SIMULATED)", "NASDAQ")


def contract_details_frames(market: Market, hours: TradingHours, fields: list[str], now: float) -> list[bytes]:
    """The answer to reqContractDetails at 157: [9, 8, reqId, conId, symbol, secType, ..., secIdType, secId].

    One contractData and contractDataEnd for a stock of the catalogue (by symbol, or conId alone).

    :raises RequestError: 200 for anything else; 320 on a bad number.
    """
    req_id = p.parse_int(p.field_at(fields, 2))
    contract = contract_at(fields, 3, req_id)
    if not (contract.symbol or contract.con_id) or not known(market, contract):
        raise p.RequestError(200, UNKNOWN_CONTRACT, req_id)
    if contract.exchange not in ("", "SMART", listing(symbol_of(market, contract)).primary_exchange):
        raise p.RequestError(200, UNKNOWN_CONTRACT, req_id)
    symbol = symbol_of(market, contract)
    return [contract_data(market, hours, req_id, symbol, contract.exchange or "SMART", now), contract_data_end(req_id)]


def contract_data(market: Market, hours: TradingHours, req_id: int, symbol: str, exchange: str, now: float) -> bytes:
    """contractData (version 8) with every field the 157 decoder reads, in its order."""
    q = market.quotes[symbol]
    info = listing(symbol)
    return frame_values(
        10, 8, req_id,
        symbol, "STK", "", 0.0, "", exchange, "USD", symbol, "NMS", "NMS", q.con_id,
        q.min_tick, 1,  # minTick, mdSizeMultiplier
        "", ORDER_TYPES, VALID_EXCHANGES, 1, 0,  # multiplier, orderTypes, validExchanges, priceMagnifier, underConId
        info.long_name, info.primary_exchange,
        "", info.industry, info.category, "", hours.zone_name,  # contractMonth, industry, category, subcategory
        hours.hours_text(now, 7, rth=False), hours.hours_text(now, 7, rth=True),
        "", "",  # evRule, evMultiplier
        1, "ISIN", f"US{q.con_id:010d}",  # secIdList
        1, "", "", "26,26", "", info.stock_type,  # aggGroup, underSymbol, underSecType, marketRuleIds, realExpiration
    )  # fmt: skip


def contract_data_end(req_id: int) -> bytes:
    return frame_values(52, 1, req_id)


def matching_symbols_frame(market: Market, fields: list[str]) -> bytes:
    """symbolSamples for reqMatchingSymbols [81, reqId, pattern]: the catalogue's stocks whose symbol starts
    with the pattern, then those whose symbol or name contains it (case-insensitive), at most 16.

    :raises RequestError: 320 on a bad request id.
    """
    req_id = p.parse_int(p.field_at(fields, 1))
    pattern = p.field_at(fields, 2).strip().upper()
    symbols = sorted(market.quotes)
    found = [s for s in symbols if pattern and s.startswith(pattern)]
    found += [s for s in symbols if pattern and s not in found and (pattern in s or pattern in listing(s).long_name)]
    values: list[object] = [79, req_id, len(found[:MAX_SAMPLES])]
    for symbol in found[:MAX_SAMPLES]:
        values += [market.quotes[symbol].con_id, symbol, "STK", listing(symbol).primary_exchange, "USD", 0]
    return frame_values(*values)
