"""The CSV writer of every export: cells safe in a spreadsheet, times in UTC with Z, chunked output."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncRequestFactory, RequestFactory

from tradeconsole.csv_export import Column, csv_cell, csv_chunks, csv_response

# The data carries dates: the clock is pinned to their day (time_machine.travel, by the root conftest's
# clock marker), so the test means the same on any day.
pytestmark = pytest.mark.clock("2026-03-10T16:00:00+00:00")


@pytest.mark.parametrize(
    "text", ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
)  # fmt: skip
def test_a_cell_that_a_spreadsheet_would_read_as_a_formula_is_prefixed_with_a_quote(text):
    assert csv_cell(text) == "'" + text


def test_plain_text_and_numbers_are_written_as_they_are():
    assert csv_cell("Price collar: 5% away") == "Price collar: 5% away"
    # A short position's quantity is a number, not a formula.
    assert csv_cell(Decimal("-100")) == "-100"
    assert csv_cell(-3) == "-3"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"


def test_times_are_utc_iso_8601_with_z():
    new_york = datetime(2026, 3, 10, 11, 0, 0, 123000, tzinfo=ZoneInfo("America/New_York"))
    assert csv_cell(new_york) == "2026-03-10T15:00:00.123000Z"
    assert csv_cell(datetime(2026, 3, 10, 15, 0, tzinfo=UTC)) == "2026-03-10T15:00:00Z"


def test_rows_are_written_a_chunk_at_a_time_after_the_headings():
    columns = [Column("Symbol", lambda row: row[0]), Column("Quantity", lambda row: row[1])]
    rows = [(f"S{n}", n) for n in range(7)]
    seen = []

    chunks = list(csv_chunks(rows, columns, chunk_size=3, per_chunk=lambda chunk: seen.append(len(chunk))))

    assert chunks[0] == "Symbol,Quantity\r\n"
    assert len(chunks) == 1 + 3  # headings, then chunks of 3, 3 and 1 rows
    assert seen == [3, 3, 1]
    table = list(csv.reader(io.StringIO("".join(chunks))))
    assert table[1:] == [[f"S{n}", str(n)] for n in range(7)]


def test_served_by_asgi_the_response_streams_asynchronously_and_by_wsgi_synchronously():
    # Under ASGI, Django would read a plain iterator to the end into a list before sending it.
    columns = [Column("Symbol", lambda row: row)]
    rows = ["AAPL", "=MSFT"]

    asgi = csv_response(rows, columns, filename="x.csv", request=AsyncRequestFactory().get("/x.csv"))
    wsgi = csv_response(rows, columns, filename="x.csv", request=RequestFactory().get("/x.csv"))

    async def read(response):
        return [chunk async for chunk in response.streaming_content]

    assert asgi.is_async and not wsgi.is_async
    assert b"".join(async_to_sync(read)(asgi)) == b"".join(wsgi.streaming_content) == b"Symbol\r\nAAPL\r\n'=MSFT\r\n"
