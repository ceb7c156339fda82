"""Celery's half of the correlation id (``logclock.correlation``): a task runs with the id of what sent it.

``before_task_publish`` writes the sender's id in the message's ``cid`` header, or a fresh one when
nothing is bound (beat firing a schedule starts an order's path here); ``task_prerun`` binds the
header's id in the worker for the task's run (the task's own id when the message has none: one sent
by an older process) and ``task_postrun`` unbinds it. An eager task (tests) keeps its caller's id.
"""

from __future__ import annotations

from celery.signals import before_task_publish, task_postrun, task_prerun

from logclock import correlation

HEADER = "cid"
_tokens: dict[str, object] = {}


@before_task_publish.connect
def _send_the_correlation_id(headers: dict | None = None, **kwargs) -> None:
    if headers is not None and not correlation.well_formed(headers.get(HEADER)):
        headers[HEADER] = correlation.current() or correlation.new_id()


@task_prerun.connect
def _bind_the_correlation_id(task_id: str | None = None, task=None, **kwargs) -> None:
    request = task.request if task is not None else None
    # A worker merges a message's headers into the request; ``apply`` keeps them apart.
    sent = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    if not correlation.well_formed(sent):
        sent = correlation.current() or (task_id if correlation.well_formed(task_id) else correlation.new_id())
    _tokens[task_id] = correlation.bind(sent)


@task_postrun.connect
def _unbind_the_correlation_id(task_id: str | None = None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        correlation.reset(token)
