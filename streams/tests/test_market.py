"""The market-data feed: the newest tick of each symbol reaches the symbol's group."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_worker import messages as m
from streams import keys, live
from streams.market import MarketFeed
from streams.tests.harness import receive_from_group

pytestmark = pytest.mark.django_db


def test_the_newest_tick_of_a_symbol_is_fanned_out_to_its_group(redis_client):
    stream = keys.market_data_stream("AAPL")
    redis_client.xadd(stream, m.encode(m.MarketData(symbol="AAPL", bid=Decimal("99.9"), ask=Decimal("100.1"))))
    fanout = live.Fanout()
    try:
        feed = MarketFeed(fanout)
        feed.step(block_ms=10)  # finds the stream, follows it from its newest entry

        def two_ticks_then_a_step() -> None:
            redis_client.xadd(stream, m.encode(m.MarketData(symbol="AAPL", bid=Decimal("100"), ask=Decimal("100.2"))))
            redis_client.xadd(
                stream,
                m.encode(
                    m.MarketData(symbol="AAPL", bid=Decimal("100.1"), ask=Decimal("100.3"), last=Decimal("100.2"))
                ),
            )
            assert feed.step(block_ms=500) == 1

        message = receive_from_group(live.market_group("AAPL"), two_ticks_then_a_step)
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["kind"] == "quote" and row["ctx"]["bid"] == "100.1" and row["ctx"]["last"] == "100.2"


def test_the_market_watch_shows_the_instruments_an_account_trades_or_may_trade(account, other_account):
    from orders.models import Instrument, Order, Position, RiskLimit
    from streams.pages import market_symbols

    held, ordered, allowed, inactive, elsewhere, _unrelated = (
        Instrument.objects.create(symbol=symbol, last_price=Decimal("10"), active=symbol != "OLD")
        for symbol in ("HELD", "ORDERED", "ALLOWED", "OLD", "ELSEWHERE", "UNRELATED")
    )
    Position.objects.create(account=account, instrument=held, quantity=5)
    Position.objects.create(account=account, instrument=inactive, quantity=5)
    for _ in range(3):  # several orders: still one row
        Order.objects.create(account=account, instrument=ordered, side="BUY", quantity=1, order_type="MKT")
    Position.objects.create(account=other_account, instrument=elsewhere, quantity=1)
    RiskLimit.objects.get_or_create(account=account)[0].allowed_instruments.add(allowed)

    assert market_symbols({account.pk}) == ["ALLOWED", "HELD", "ORDERED"]
    assert market_symbols({other_account.pk}) == ["ELSEWHERE"]
    assert market_symbols(set()) == []
