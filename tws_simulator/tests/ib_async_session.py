"""An ordinary ib_async session against a running simulator; run by test_ib_async.py.

Usage: <ib_async python> ib_async_session.py PORT. It imports only ``ib_async`` and prints one JSON
object with what the client saw: connect, qualify a contract, request history, read the portfolio
and the account values, disconnect. Every wait is bounded (ib_async's own timeouts).
"""

from __future__ import annotations

import json
import sys

from ib_async import IB, Stock


def main(port: int) -> dict:
    ib = IB()
    errors: list[list] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append([req_id, code, text])
    ib.connect("127.0.0.1", port, clientId=31, timeout=10)
    out: dict = {"server_version": ib.client.serverVersion(), "accounts": ib.managedAccounts()}
    [contract] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    out["contract"] = [contract.conId, contract.symbol, contract.primaryExchange]
    [details] = ib.reqContractDetails(contract)
    out["details"] = [details.longName, details.minTick, details.timeZoneId]
    bars = ib.reqHistoricalData(contract, "", "1 D", "1 hour", "TRADES", useRTH=True, formatDate=1, timeout=20)
    out["bars"] = [[str(b.date), b.open, b.high, b.low, b.close, b.volume] for b in bars]
    out["unknown"] = [c for c in ib.qualifyContracts(Stock("NOPE", "SMART", "USD")) if c]
    out["portfolio"] = [[p.contract.symbol, p.position, p.marketPrice, p.account] for p in ib.portfolio()]
    values = {v.tag: v.value for v in ib.accountValues() if v.currency in ("USD", "")}
    out["account_values"] = {k: values.get(k) for k in ("NetLiquidation", "TotalCashValue", "AccountCode")}
    out["positions"] = [[p.contract.symbol, p.position] for p in ib.positions()]
    out["completed"] = [[t.contract.symbol, t.orderStatus.status] for t in ib.reqCompletedOrders(apiOnly=False)]
    out["errors"] = errors
    ib.disconnect()
    out["connected_after"] = ib.isConnected()
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
