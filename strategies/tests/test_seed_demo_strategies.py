"""``seed_demo`` gives the desk the engine's three templates as strategies, each with its version 1, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import AuditLog
from strategies.engine import compile_graph
from strategies.models import Strategy, StrategyVersion
from strategies.tests.factories import template_graph

pytestmark = pytest.mark.django_db

TEMPLATES = {
    "EMA crossover": "ema_crossover",
    "RSI mean reversion": "rsi_mean_reversion",
    "Bollinger breakout": "bollinger_breakout",
}


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_saves_each_template_as_version_1_of_its_strategy_through_the_services():
    seed()
    for name, template in TEMPLATES.items():
        version = StrategyVersion.objects.get(strategy__name=name)
        graph = template_graph(template)
        assert (version.number, version.graph, version.graph_hash) == (1, graph, compile_graph(graph).hash)
        assert version.author is None and not version.is_approved
    saves = AuditLog.objects.filter(action="strategy_version.save", via="seed_demo")
    assert saves.count() == 3
    assert AuditLog.objects.filter(action="strategy.create", via="seed_demo").count() == 3


def test_seed_demo_twice_adds_no_strategy_version_or_audit_row():
    seed()
    counts = (Strategy.objects.count(), StrategyVersion.objects.count(), AuditLog.objects.count())
    second = seed()
    assert (Strategy.objects.count(), StrategyVersion.objects.count(), AuditLog.objects.count()) == counts
    assert "template" not in second


def test_seed_demo_adds_version_1_to_a_template_strategy_that_has_none():
    seed()
    StrategyVersion.objects.filter(strategy__name="RSI mean reversion").delete()
    output = seed()
    assert "Saved the rsi_mean_reversion template as version 1 of RSI mean reversion." in output
    assert StrategyVersion.objects.filter(strategy__name="RSI mean reversion").get().number == 1
    assert StrategyVersion.objects.count() == 3
