"""factory_boy factories of the strategies app."""

from __future__ import annotations

import json
from pathlib import Path

import factory

from accounts.tests.factories import BrokerAccountFactory
from strategies import engine
from strategies.models import Strategy, TradingSession

TEMPLATES = Path(engine.__file__).parent / "templates"


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


def template_graph(name: str) -> dict:
    """A fresh copy of the engine's template ``name`` (ema_crossover, rsi_mean_reversion, bollinger_breakout)."""
    return json.loads((TEMPLATES / f"{name}.json").read_text())
