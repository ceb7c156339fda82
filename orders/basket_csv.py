"""A basket's lines read from CSV (an upload or pasted text), with each bad row's stable code.

The first row names the columns, in any order and case, separated by commas, tabs (cells pasted
from a spreadsheet) or semicolons: ``symbol``, ``side`` and ``quantity`` are required;
``order_type``, ``limit_price``, ``stop_price`` and ``tif`` are optional (blank: the basket's
defaults, a limit order with a limit price, else market; DAY). Only the shape of a row is read
here; what the desk would say of the order is ``orders.services.baskets``'s answer.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orders.models import Instrument, OrderType, Side, TimeInForce
from orders.services.baskets import MAX_LINES

MAX_BYTES = 256 * 1024
REQUIRED = ("symbol", "side", "quantity")
OPTIONAL = ("order_type", "limit_price", "stop_price", "tif")
# Headers people write for the same column.
ALIASES = {"qty": "quantity", "type": "order_type", "limit": "limit_price", "stop": "stop_price", "action": "side"}


@dataclass
class ParsedBasket:
    """The lines read (with the row each came from) and the rows that could not be read."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.errors


def _problem(row: int, code: str, detail: str, column: str = "") -> dict[str, Any]:
    return {"row": row, "code": f"basket.csv_{code}", "detail": detail, "field": column}


def _text(data: bytes | str) -> str | None:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _number(value: str, column: str, row: int, problems: list) -> str | None:
    if value == "":
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        problems.append(_problem(row, "bad_number", f"{column} is not a number: {value!r}.", column))
        return None
    if number <= 0:
        problems.append(_problem(row, "bad_number", f"{column} must be greater than zero: {value!r}.", column))
        return None
    return value


def basket_csv_read(data: bytes | str) -> ParsedBasket:
    """Read CSV text or bytes (UTF-8) into basket lines; every bad row is listed, none raises.

    Codes: ``basket.csv_not_text`` (not UTF-8 or too large), ``basket.csv_unreadable`` (a row the
    csv module refuses, such as a cell over its field limit), ``basket.csv_empty``,
    ``basket.csv_missing_column``, ``basket.csv_duplicate_column`` (a column named twice, aliases
    included: which one holds the order would be a guess), ``basket.csv_too_many_rows`` (more than ``MAX_LINES``),
    ``basket.csv_unknown_symbol``, ``basket.csv_bad_side``, ``basket.csv_bad_number``,
    ``basket.csv_bad_order_type``, ``basket.csv_bad_tif``. Row numbers count the header as 1.
    """
    parsed = ParsedBasket()
    text = _text(data) if len(data) <= MAX_BYTES else None
    if text is None:
        parsed.errors.append(_problem(0, "not_text", f"The file is not UTF-8 text of at most {MAX_BYTES} bytes."))
        return parsed
    text = text.strip()
    first = text.split("\n", 1)[0]
    # Cells pasted from a spreadsheet are tab-separated; some locales' CSV uses semicolons.
    delimiter = max((",", "\t", ";"), key=first.count)
    records = _records(text, delimiter, parsed.errors)
    if records is None:
        return parsed
    header = records[0] if records else None
    if not header or not any(cell.strip() for cell in header):
        parsed.errors.append(_problem(1, "empty", "The file is empty: write a header row, then one order a row."))
        return parsed
    columns = [ALIASES.get(name, name) for name in (cell.strip().lower().replace(" ", "_") for cell in header)]
    twice = sorted({name for name in columns if name in REQUIRED + OPTIONAL and columns.count(name) > 1})
    if twice:
        # The whole file is refused: a row's values and the symbol look-up would each read another copy.
        parsed.errors.append(
            _problem(1, "duplicate_column", f"The header names {', '.join(twice)} more than once.", twice[0])
        )
        return parsed
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        parsed.errors.append(_problem(1, "missing_column", f"The header lacks {', '.join(missing)}.", missing[0]))
        return parsed
    raw = [(number, cells) for number, cells in enumerate(records[1:], start=2) if any(cell.strip() for cell in cells)]
    if not raw:
        parsed.errors.append(_problem(2, "empty", "The file has a header and no orders."))
        return parsed
    if len(raw) > MAX_LINES:
        parsed.errors.append(
            _problem(raw[MAX_LINES][0], "too_many_rows", f"A basket holds at most {MAX_LINES} orders; got {len(raw)}.")
        )
        return parsed
    symbols = {cells[columns.index("symbol")].strip().upper() for _, cells in raw if len(cells) == len(columns)}
    known = set(Instrument.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
    for number, cells in raw:
        line = _row(number, columns, cells, known, parsed.errors)
        if line is not None:
            parsed.lines.append(line)
            parsed.rows.append(number)
    return parsed


def _records(text: str, delimiter: str, problems: list) -> list[list[str]] | None:
    """Every row's cells, or None with the problem of the first row the csv module cannot read
    (a cell over its field limit of 131,072 characters)."""
    records: list[list[str]] = []
    try:
        for cells in csv.reader(io.StringIO(text), delimiter=delimiter):
            records.append(cells)
    except csv.Error as error:
        number = len(records) + 1
        problems.append(_problem(number, "unreadable", f"Row {number} cannot be read as CSV: {error}."))
        return None
    return records


def _row(number: int, columns: list[str], cells: list[str], known: set[str], problems: list) -> dict | None:
    """One row's line, or None with its problems appended."""
    if len(cells) != len(columns):
        problems.append(
            _problem(number, "missing_column", f"The row has {len(cells)} cells; the header names {len(columns)}.")
        )
        return None
    values = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
    before = len(problems)
    symbol = values["symbol"].upper()
    if symbol not in known:
        problems.append(_problem(number, "unknown_symbol", f"No instrument {symbol or '(blank)'}.", "symbol"))
    side = values["side"].upper()
    side = {"B": Side.BUY, "S": Side.SELL}.get(side, side)
    if side not in Side.values:
        problems.append(_problem(number, "bad_side", f"side must be BUY or SELL; got {values['side']!r}.", "side"))
    quantity = _number(values["quantity"], "quantity", number, problems)
    if quantity is None and values["quantity"] == "":
        problems.append(_problem(number, "bad_number", "quantity is blank.", "quantity"))
    limit_price = _number(values.get("limit_price", ""), "limit_price", number, problems)
    stop_price = _number(values.get("stop_price", ""), "stop_price", number, problems)
    # Blank: the basket's default (``orders.services.baskets``), not decided here.
    order_type = values.get("order_type", "").upper()
    if order_type and order_type not in OrderType.values:
        problems.append(
            _problem(
                number, "bad_order_type", f"order_type must be one of {', '.join(OrderType.values)}.", "order_type"
            )
        )
    tif = values.get("tif", "").upper()
    if tif and tif not in TimeInForce.values:
        problems.append(_problem(number, "bad_tif", f"tif must be one of {', '.join(TimeInForce.values)}.", "tif"))
    if len(problems) > before:
        # The row as written, so whoever reads the problem sees which order it was.
        for problem in problems[before:]:
            problem["values"] = values
        return None
    return {
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "order_type": order_type,
        "limit_price": limit_price,
        "stop_price": stop_price,
        "tif": tif,
    }


def basket_csv_write(lines: list[dict[str, Any]]) -> str:
    """The CSV text of ``lines`` (the columns ``basket_csv_read`` reads), for a person to edit and send."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED + OPTIONAL)
    for line in lines:
        writer.writerow([line.get(name) or "" for name in REQUIRED + OPTIONAL])
    return out.getvalue()


__all__ = ["MAX_BYTES", "ParsedBasket", "basket_csv_read", "basket_csv_write"]
