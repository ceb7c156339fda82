"""Logging filters of the server log (``settings.LOGGING``)."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Keep a 4xx answer to one line: a refusal (403, 404…) is expected, its traceback is noise.

    Django logs the exception of a ``PermissionDenied`` or ``Http404`` with the warning; a 5xx
    keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RoutineTaskAtDebug(logging.Filter):
    """Lower Celery's INFO lines about a routine periodic task to DEBUG, keeping them out of an INFO log.

    Beat announces every due task ("Scheduler: Sending due task …") and the worker every task it
    receives and finishes; for the scheduled-order check every 2 s that was a third of ``make run``'s
    log. Only those three lines of the named tasks are lowered: a failure keeps its level, and the
    tasks log what they did (a firing) at INFO themselves. Attach it to the loggers ``celery.beat``,
    ``celery.worker.strategy`` and ``celery.app.trace``: a logger's filter runs after its level
    test, so the filter itself drops a lowered record the logger would not have let through.
    """

    def __init__(self, tasks: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._names_routine_task(record.args):
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def _names_routine_task(self, args) -> bool:
        # The worker's lines carry a context dict with the task's name; beat's carry
        # (entry name, task name).
        if isinstance(args, dict):
            return args.get("name") in self.tasks
        if isinstance(args, tuple) and len(args) == 2:
            return args[1] in self.tasks
        return False
