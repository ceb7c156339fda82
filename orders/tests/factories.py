"""factory_boy factories of the orders app.

``OrderFactory`` writes a row directly, for tests that need an order in a given state; tests of
order entry call ``orders.services.order_submit`` instead.
"""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from accounts.tests.factories import BrokerAccountFactory
from orders.models import Fill, Instrument, Order, OrderStatus, Position, RiskLimit


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument
        django_get_or_create = ("symbol", "sec_type", "exchange", "currency")

    symbol = factory.Sequence(lambda n: f"SYM{n}")
    sec_type = "STK"
    exchange = "SMART"
    currency = "USD"
    primary_exchange = "NASDAQ"
    min_tick = Decimal("0.01")
    last_price = Decimal("100.00")
    last_price_at = factory.LazyFunction(timezone.now)


class RiskLimitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskLimit
        django_get_or_create = ("account",)

    account = factory.SubFactory(BrokerAccountFactory)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    account = factory.SubFactory(BrokerAccountFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    side = "BUY"
    quantity = Decimal("100")
    order_type = "LMT"
    limit_price = Decimal("100.00")
    status = OrderStatus.NEW
    source = "admin"


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    exec_id = factory.Sequence(lambda n: f"0000e0d5.{n:08d}.01.01")
    account = factory.SubFactory(BrokerAccountFactory)
    instrument = factory.SubFactory(InstrumentFactory)
    side = "BUY"
    quantity = Decimal("100")
    price = Decimal("100.00")
    executed_at = factory.LazyFunction(timezone.now)


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position
        django_get_or_create = ("account", "instrument")

    account = factory.SubFactory(BrokerAccountFactory)
    instrument = factory.SubFactory(InstrumentFactory)
