"""factory_boy factories of the strategies app."""

from __future__ import annotations

import factory

from accounts.tests.factories import BrokerAccountFactory
from strategies.models import Strategy, TradingSession


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"strategy-{n}")
    description = "A test strategy"
    parameters = factory.LazyFunction(lambda: {"window": 20})


class TradingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TradingSession

    strategy = factory.SubFactory(StrategyFactory)
    account = factory.SubFactory(BrokerAccountFactory)
