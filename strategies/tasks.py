"""Celery tasks of the strategies app: thin wrappers that call one service each."""

from __future__ import annotations

from celery import shared_task

from strategies.services.backtest_run import backtest_execute


@shared_task(name="strategies.tasks.run_backtest", acks_late=False, ignore_result=True)
def run_backtest(backtest_id: int) -> str:
    """Run one queued backtest (a message a backtest: several run at once on as many Celery workers).

    Not acked late: a worker lost mid-run leaves the backtest ``running`` rather than running
    it twice; ``backtest_start`` takes only a queued backtest, so a re-delivery does nothing.
    """
    return backtest_execute(backtest_id=backtest_id)
