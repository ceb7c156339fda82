"""Running a backtest in the Celery task: stored bars in chunks through the backtester, progress and cancel between."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

from strategies.backtest import BacktestRun, SlippageModel
from strategies.engine import BarRefused, GraphRefused, compile_graph
from strategies.models import Backtest
from strategies.selectors_backtests import backtest_instrument, bar_chunks, bar_count
from strategies.services.backtests import backtest_fail, backtest_finish, backtest_progress, backtest_start

logger = logging.getLogger(__name__)

# A chunk is about 5% of the bars (progress is saved after each), at least this many bars.
MIN_CHUNK = 2000
# The stored equity curve is thinned to about this many points (metrics use every bar).
EQUITY_POINTS = 2000


def backtest_execute(*, backtest_id: int, after_chunk: Callable[[int], None] | None = None) -> str:
    """Run a queued backtest to its end and return its final status.

    Takes it ``running``; reads each symbol's bars from PostgreSQL in chunks; after each chunk
    saves the progress, and stops there when the backtest was cancelled. A graph the compiler now
    refuses or bars the evaluator refuses end it ``failed`` with their code; other errors are
    ``failed`` as ``backtest.error`` and logged. Returns the status without running when the
    backtest was not queued (a second delivery, or cancelled before it started).
    ``after_chunk(bars_done)`` is called after each chunk, before the progress is saved.
    """
    backtest = backtest_start(backtest_id=backtest_id)
    if backtest is None:
        return Backtest.objects.filter(pk=backtest_id).values_list("status", flat=True).first() or "missing"
    try:
        return _run(backtest, after_chunk)
    except (GraphRefused, BarRefused) as exc:
        code = getattr(exc, "code", "graph.refused")
        backtest_fail(backtest_id=backtest_id, code=code, message=str(exc))
    except Exception as exc:
        logger.exception("backtest %s failed", backtest_id)
        backtest_fail(backtest_id=backtest_id, code="backtest.error", message=f"{type(exc).__name__}: {exc}")
    return Backtest.Status.FAILED


def _run(backtest: Backtest, after_chunk: Callable[[int], None] | None) -> str:
    plan = compile_graph(backtest.version.graph)
    run = BacktestRun(
        plan,
        list(backtest.symbols),
        starting_cash=float(backtest.starting_cash),
        resolution=backtest.resolution,
        fee_model=backtest.fee_model,
        slippage=SlippageModel(backtest.slippage_model, float(backtest.slippage_amount)),
    )
    span = {"resolution": backtest.resolution, "start": backtest.start, "end": backtest.end}
    instruments = {symbol: backtest_instrument(symbol) for symbol in backtest.symbols}
    missing = [symbol for symbol, instrument in instruments.items() if instrument is None]
    if missing:
        backtest_fail(backtest_id=backtest.pk, code="backtest.unknown_symbol", message=f"No instrument {missing}.")
        return Backtest.Status.FAILED
    total = sum(bar_count(instrument=i, **span) for i in instruments.values())
    size = max(getattr(settings, "BACKTEST_MIN_CHUNK", MIN_CHUNK), total // 20)
    done = 0
    for symbol, instrument in instruments.items():
        for chunk in bar_chunks(instrument=instrument, symbol=symbol, size=size, **span):
            run.feed(symbol, chunk)
            done += len(chunk)
            if after_chunk is not None:
                after_chunk(done)
            # Also the cancel check: a cancelled backtest is no longer running, and nothing is updated.
            if not backtest_progress(backtest_id=backtest.pk, progress=min(99, done * 100 // max(total, 1))):
                return Backtest.Status.CANCELLED
    results = run.result().as_dict(max_points=EQUITY_POINTS)
    results["bars"] = total
    if not backtest_finish(backtest_id=backtest.pk, results=_jsonable(results)):
        return Backtest.Status.CANCELLED
    return Backtest.Status.DONE


def _jsonable(value):
    """``value`` with every non-finite float as None (PostgreSQL's JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
