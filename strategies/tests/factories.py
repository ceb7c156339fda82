"""factory_boy factories of the strategies app."""

from __future__ import annotations

import json
from pathlib import Path

import factory

from accounts.tests.factories import BrokerAccountFactory
from orders.tests.factories import InstrumentFactory
from strategies import engine
from strategies.engine import compile_graph
from strategies.models import Strategy, StrategyVersion, TradingSession

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
    # Runnable unless a test says otherwise: the strategy's newest version (the EMA crossover
    # saved for it when it has none) on an instrument of its own.
    version = factory.LazyAttribute(lambda o: _newest_version(o.strategy))
    instrument = factory.SubFactory(InstrumentFactory)


def _newest_version(strategy: Strategy) -> StrategyVersion:
    # Written directly (no audit row): a session's tests count their own audit rows only.
    newest = strategy.versions.order_by("-number").first()
    if newest is not None:
        return newest
    graph = template_graph("ema_crossover")
    plan = compile_graph(graph)
    return StrategyVersion.objects.create(
        strategy=strategy, number=1, graph=graph, graph_hash=plan.hash, warmup=plan.warmup
    )


def template_graph(name: str) -> dict:
    """A fresh copy of the engine's template ``name`` (ema_crossover, rsi_mean_reversion, bollinger_breakout)."""
    return json.loads((TEMPLATES / f"{name}.json").read_text())
