"""Log lines as JSON (one object a line) or, for people, as text; both in UTC with the zone written.

``TRADECONSOLE_LOG_FORMAT`` chooses: ``json`` (the default: production, tests, anything a log
shipper reads) or ``console`` (``make run``). Every ``logging.getLogger(...)`` call of every
process goes through the formatter ``formatter()`` returns (structlog's ``ProcessorFormatter``
for JSON), so no call site changes. A JSON line's fields:

- ``ts``: when the line was logged, ``2026-12-07T14:03:05.123456Z`` (UTC, the zone written);
- ``level``: ``debug``, ``info``, ``warning``, ``error`` or ``critical``;
- ``logger``: the logger's name (``streams.relay``, ``execution_worker``…);
- ``event``: the message;
- ``correlation_id``: the id bound in ``logclock.correlation`` (left out when none is bound);
- ``thread``: the thread's name, when it is not the main thread;
- ``exception``: the traceback, when the line carries one.

The text rendering is ``logclock.FORMAT``'s line with `` cid=<id>`` appended when an id is bound.
"""

from __future__ import annotations

import json
import logging
import os
import time

import structlog

from logclock import FORMAT, UTCFormatter
from logclock.correlation import current

ENV = "TRADECONSOLE_LOG_FORMAT"
FORMATS = ("json", "console")


def chosen_format(default: str = "json") -> str:
    """The format ``TRADECONSOLE_LOG_FORMAT`` names, else ``default``.

    :raises ValueError: the variable names neither ``json`` nor ``console``.
    """
    value = os.environ.get(ENV, "").strip().lower() or default
    if value not in FORMATS:
        raise ValueError(f"{ENV}={value!r}: use json or console")
    return value


def _stamp(_logger, _name, event_dict: dict) -> dict:
    # The record's own time (not the formatting's), in UTC with the zone written.
    record = event_dict.get("_record")
    created = record.created if record is not None else time.time()
    seconds = int(created)
    micros = int((created - seconds) * 1_000_000)
    event_dict["ts"] = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{micros:06d}Z"
    return event_dict


def _level_logger_context(_logger, _name, event_dict: dict) -> dict:
    record = event_dict.get("_record")
    if record is not None:
        event_dict["level"] = record.levelname.lower()
        event_dict["logger"] = record.name
        if record.threadName != "MainThread":
            event_dict["thread"] = record.threadName
    correlation_id = current()
    if correlation_id:
        event_dict["correlation_id"] = correlation_id
    return event_dict


def _field_order(_logger, _name, event_dict: dict) -> dict:
    # ts, level, logger and event first: the line reads left to right like the text one.
    first = {key: event_dict.pop(key) for key in ("ts", "level", "logger", "event") if key in event_dict}
    first.update(event_dict)
    return first


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def json_formatter() -> logging.Formatter:
    """A formatter writing each record as one JSON object (the fields of this module's docstring)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_stamp, _level_logger_context],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _field_order,
            structlog.processors.JSONRenderer(serializer=lambda obj, **_: _dumps(obj)),
        ],
    )


class ConsoleFormatter(UTCFormatter):
    """``UTCFormatter``'s line for people, with `` cid=<id>`` when a correlation id is bound."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        correlation_id = current()
        return f"{line} cid={correlation_id}" if correlation_id else line


def formatter(fmt: str = FORMAT, kind: str | None = None) -> logging.Formatter:
    """The formatter of ``kind`` (default: ``chosen_format()``); ``fmt`` is the text line's format.

    :raises ValueError: ``kind`` or ``TRADECONSOLE_LOG_FORMAT`` is neither ``json`` nor ``console``.
    """
    kind = kind or chosen_format()
    if kind not in FORMATS:
        raise ValueError(f"log format {kind!r}: use json or console")
    return json_formatter() if kind == "json" else ConsoleFormatter(fmt)
