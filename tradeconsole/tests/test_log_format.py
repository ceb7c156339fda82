"""The log line formats (``logclock.structured``): JSON with the correlation id, or text for people."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime

import pytest

import logclock
from logclock.correlation import correlated, current, well_formed
from logclock.structured import chosen_format, formatter


def _logger(kind: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(logclock.FORMAT, kind))
    logger = logging.getLogger(f"probe.{kind}.{id(out)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger, out


def _json_lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_has_the_time_in_utc_level_logger_event_and_correlation_id():
    logger, out = _logger("json")
    before = datetime.now(UTC)
    with correlated("order-7f3a") as bound:
        logger.warning("order %s placed", "C-1")
    (line,) = _json_lines(out)
    assert bound == "order-7f3a"
    assert line["ts"].endswith("Z")
    stamp = datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset().total_seconds() == 0
    assert before.replace(microsecond=0) <= stamp <= datetime.now(UTC)
    assert line["level"] == "warning"
    assert line["logger"] == logger.name
    assert line["event"] == "order C-1 placed"
    assert line["correlation_id"] == "order-7f3a"
    assert list(line)[:4] == ["ts", "level", "logger", "event"]


def test_a_json_line_without_a_correlation_id_leaves_it_out_and_the_id_is_reset_after_the_block():
    logger, out = _logger("json")
    with correlated(""):
        assert current()
    assert current() == ""
    logger.info("nothing bound")
    (line,) = _json_lines(out)
    assert "correlation_id" not in line
    assert "thread" not in line


def test_a_json_line_carries_the_traceback_and_the_thread_name():
    logger, out = _logger("json")

    def fail() -> None:
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            logger.exception("step failed")

    thread = threading.Thread(target=fail, name="relay")
    thread.start()
    thread.join()
    (line,) = _json_lines(out)
    assert line["level"] == "error"
    assert line["thread"] == "relay"
    assert "ZeroDivisionError" in line["exception"]


def test_each_thread_has_its_own_correlation_id():
    logger, out = _logger("json")

    def other() -> None:
        logger.info("other thread")

    with correlated("first"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        logger.info("this thread")
    other_line, this_line = _json_lines(out)
    assert "correlation_id" not in other_line
    assert this_line["correlation_id"] == "first"


def test_the_console_line_is_text_in_utc_with_the_id_appended():
    logger, out = _logger("console")
    with correlated("abc.123"):
        logger.info("order placed")
    line = out.getvalue().rstrip("\n")
    stamp, rest = line.split(" ", 1)
    assert stamp.endswith("Z")
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert rest == f"INFO {logger.name} order placed cid=abc.123"


def test_the_format_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.delenv("TRADECONSOLE_LOG_FORMAT", raising=False)
    assert chosen_format() == "json"
    monkeypatch.setenv("TRADECONSOLE_LOG_FORMAT", "Console")
    assert chosen_format() == "console"
    monkeypatch.setenv("TRADECONSOLE_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="json or console"):
        formatter()


@pytest.mark.parametrize(
    ("value", "ok"), [("a1b2", True), ("x" * 64, True), ("x" * 65, False), ("", False), ("a b", False), (7, False)]
)
def test_a_correlation_id_is_well_formed_only_when_short_and_plain(value, ok):
    assert well_formed(value) is ok
