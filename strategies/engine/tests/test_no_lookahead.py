"""Property: changing bars after t never changes a decision at or before t, live or on history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata import sessions
from strategies.engine import Evaluator, compile_graph, run_history
from strategies.engine.tests.helpers import TEMPLATE_NAMES, bar, template

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = pytest.mark.clock(datetime(2026, 3, 4, 16, 0, tzinfo=UTC))

T0 = sessions.calendar().on(date(2026, 3, 4)).open
PLANS = {name: compile_graph(template(name)) for name in TEMPLATE_NAMES}

moves = st.lists(st.floats(min_value=-1.5, max_value=1.5, allow_nan=False), min_size=40, max_size=160)
wicks = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def bars_of(steps: list[float], wick: float, volume_seed: int = 0):
    price, out = 50.0, []
    for i, step in enumerate(steps):
        open_ = price
        price = max(1.0, price + step)
        out.append(
            bar(
                T0 + 60 * i,
                open_,
                max(open_, price) + wick,
                min(open_, price) - wick,
                price,
                volume=100 + (i * 37 + volume_seed) % 900,
            )
        )
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(TEMPLATE_NAMES),
    steps=moves,
    wick=wicks,
    cut=st.floats(min_value=0.0, max_value=1.0),
    new_steps=moves,
    new_wick=wicks,
)
def test_changing_bars_after_t_never_changes_a_decision_at_or_before_t(name, steps, wick, cut, new_steps, new_wick):
    plan = PLANS[name]
    original = bars_of(steps, wick)
    t = int(cut * (len(original) - 1))
    # Keep bars 0..t, replace everything after t by another walk starting from bar t's close.
    tail = bars_of(new_steps, new_wick, volume_seed=7)
    shift = original[t].close - tail[0].open
    changed = original[: t + 1] + [
        bar(
            original[t].time + 60 * (k + 1), float(b.open + shift), float(b.high + shift), float(b.low + shift),
            float(b.close + shift), volume=float(b.volume),
        )
        for k, b in enumerate(tail)
    ]  # fmt: skip
    until = original[t].time

    def upto(decisions):
        return [d for d in decisions if d.bar_time <= until]

    assert upto(run_history(plan, original)) == upto(run_history(plan, changed))
    live = Evaluator(plan, "AAPL")
    assert upto([d for b in changed for d in live.on_bar(b)]) == upto(run_history(plan, original))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(TEMPLATE_NAMES), steps=moves, wick=wicks)
def test_the_history_run_decides_exactly_as_bar_by_bar(name, steps, wick):
    plan = PLANS[name]
    bars = bars_of(steps, wick)
    live = Evaluator(plan, "AAPL")
    assert [d for b in bars for d in live.on_bar(b)] == run_history(plan, bars)
