"""CSV exports that stream: rows read a chunk at a time through a server-side cursor and written as
they are read, so an export of 100,000 fills never holds them all in memory.

The stdlib ``csv`` writer and Django's ``StreamingHttpResponse`` are enough for this: a table's
columns are named here in the desk's words, not derived from a serializer or a resource class,
and the rows come from the same scoped selectors as the JSON lists and the admin's changelists.

Cells are made safe to open in a spreadsheet (CSV injection): text beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is prefixed with a single quote. Times are written in
UTC, ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

# Rows read from the database per fetch of the server-side cursor (and per chunk of CSV sent).
CHUNK_SIZE = 2000

CONTENT_TYPE = "text/csv; charset=utf-8"

# A spreadsheet reads a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column of an export: its heading and how a row gives its value."""

    heading: str
    value: Callable[[Any], Any]


def csv_cell(value: Any) -> str:
    """Return ``value`` as the text of one cell: "" for None, UTC ISO 8601 with Z for a datetime,
    ``true``/``false`` for a bool, a number as written, and text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        # Numbers are data, not formulas: a short position's -100 stays a number.
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_chunks(
    rows: Iterable[Any],
    columns: Sequence[Column],
    *,
    chunk_size: int = CHUNK_SIZE,
    per_chunk: Callable[[list[Any]], None] | None = None,
) -> Iterator[str]:
    """Yield the CSV text of ``rows``: the headings first, then one piece per ``chunk_size`` rows.

    A QuerySet is read with ``.iterator(chunk_size=...)`` (a server-side cursor on PostgreSQL),
    so at most one chunk of rows is in memory at a time. ``per_chunk``, if given, is called with
    each chunk's rows before they are written (to look up names for a chunk in one query).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.heading for column in columns])
    yield _take(buffer)
    source = rows.iterator(chunk_size=chunk_size) if isinstance(rows, QuerySet) else iter(rows)
    chunk: list[Any] = []
    for row in source:
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield _write(writer, buffer, chunk, columns, per_chunk)
            chunk = []
    if chunk:
        yield _write(writer, buffer, chunk, columns, per_chunk)


def _write(writer, buffer: io.StringIO, chunk: list[Any], columns: Sequence[Column], per_chunk) -> str:
    if per_chunk is not None:
        per_chunk(chunk)
    writer.writerows([csv_cell(column.value(row)) for column in columns] for row in chunk)
    return _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


async def _one_at_a_time(chunks: Iterator[str]) -> AsyncIterator[str]:
    # Each chunk is read and written in the thread Django's sync code runs in (thread-sensitive),
    # where the request's database connection and its server-side cursor live.
    done = object()
    take = sync_to_async(next)
    while (chunk := await take(chunks, done)) is not done:
        yield chunk


def csv_response(
    rows: Iterable[Any],
    columns: Sequence[Column],
    *,
    filename: str,
    request=None,
    per_chunk: Callable[[list[Any]], None] | None = None,
) -> StreamingHttpResponse:
    """Return a streaming download of ``rows`` as ``filename`` (an attachment), UTF-8 CSV.

    Give the ``request`` (Django's or DRF's): served by ASGI (daphne, the web process) the
    content is an async iterator, since Django would read a plain one to the end into a list
    before sending any of it; served by WSGI (gunicorn, the api process) it is a plain iterator.
    """
    content: Iterator[str] | AsyncIterator[str] = csv_chunks(rows, columns, per_chunk=per_chunk)
    if isinstance(getattr(request, "_request", request), ASGIRequest):
        content = _one_at_a_time(content)
    response = StreamingHttpResponse(content, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Exports are current data of the user's accounts: never cached by a proxy.
    response["Cache-Control"] = "no-store"
    return response


def export_filename(name: str) -> str:
    """Return ``<name>-<UTC time>.csv``, the name of a download made now."""
    return f"{name}-{timezone.now().astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.csv"
