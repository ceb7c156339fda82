"""Field parsers of the contract: each takes a raw JSON value and returns the typed value or raises MessageError.

``MessageError`` and its stable ``message.*`` codes live here too; ``codec.check_field`` applies a
message's parser to one value for producers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from execution_worker.messages.enums import (
    GATEWAY_STATES,
    HALT_MODES,
    ORDER_TYPES,
    REFRESH_WHAT,
    SIDES,
    SOURCES,
    STOCK,
    TIFS,
)

# Stable error codes carried by MessageError.code.
UNDECODABLE = "message.undecodable"
UNSUPPORTED_VERSION = "message.unsupported_version"
UNKNOWN_TYPE = "message.unknown_type"
MISSING_FIELD = "message.missing_field"
BAD_FIELD = "message.bad_field"
UNKNOWN_FIELD = "message.unknown_field"
TOO_LARGE = "message.too_large"


class MessageError(ValueError):
    """A stream entry that does not follow the contract.

    ``code`` is one of the stable ``message.*`` codes above; ``field`` names the offending field
    when there is one; ``str(error)`` is a sentence for a person.
    """

    def __init__(self, code: str, text: str, field: str | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.field = field


_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
# Printable ASCII without control characters: ibapi refuses anything else (client error 579).
_TEXT_RE = re.compile(r"[ -~]*\Z")
_DECIMAL_TEXT_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)\Z")
_MAX_DECIMAL_DIGITS = 24
_MAX_ABS_DECIMAL = Decimal(10) ** 15


def bad_field(name: str, text: str) -> MessageError:
    return MessageError(BAD_FIELD, f"{name}: {text}", name)


def parse_uuid(name: str, value: Any) -> str:
    if type(value) is not str or not _UUID_RE.match(value):
        raise bad_field(name, "must be a UUID string like 6f1c2d3e-0000-4000-8000-000000000000")
    return value.lower()


def text_parser(max_len: int, *, allow_empty: bool = False, upper: bool = False):
    def parse(name: str, value: Any) -> str:
        if type(value) is not str:
            raise bad_field(name, "must be a string")
        if not value and not allow_empty:
            raise bad_field(name, "must not be empty")
        if len(value) > max_len:
            raise bad_field(name, f"must be at most {max_len} characters")
        if not _TEXT_RE.match(value):
            raise bad_field(name, "must be printable ASCII")
        return value.upper() if upper else value

    return parse


def parse_decimal(name: str, value: Any) -> Decimal:
    """Parse a decimal given as a JSON string or number, finite and of bounded size."""
    if type(value) is str:
        if len(value) > _MAX_DECIMAL_DIGITS + 2 or not _DECIMAL_TEXT_RE.match(value):
            raise bad_field(name, "must be a plain decimal number such as 100 or 12.5")
        number = Decimal(value)
    elif type(value) is int:
        number = Decimal(value)
    elif type(value) is float or type(value) is Decimal:
        try:
            number = Decimal(str(value)) if type(value) is float else value
        except InvalidOperation:
            raise bad_field(name, "must be a number")
        if not number.is_finite():
            raise bad_field(name, "must be finite")
    else:
        raise bad_field(name, "must be a decimal string or a number")
    if abs(number) >= _MAX_ABS_DECIMAL or (number and number.as_tuple().exponent < -12):
        raise bad_field(name, "is out of range")
    return number


def parse_positive_decimal(name: str, value: Any) -> Decimal:
    number = parse_decimal(name, value)
    if number <= 0:
        raise bad_field(name, "must be greater than 0")
    return number


def parse_non_negative_decimal(name: str, value: Any) -> Decimal:
    number = parse_decimal(name, value)
    if number < 0:
        raise bad_field(name, "must not be negative")
    return number


def parse_optional_decimal(name: str, value: Any) -> Decimal | None:
    return None if value is None else parse_decimal(name, value)


def parse_int(name: str, value: Any) -> int:
    if type(value) is int:
        number = value
    elif type(value) is str and value.isdigit() and len(value) <= 20 and value.isascii():
        number = int(value)
    else:
        raise bad_field(name, "must be an integer")
    if number < 0 or number >= 2**63:
        raise bad_field(name, "must be a non-negative 64-bit integer")
    return number


def parse_bool(name: str, value: Any) -> bool:
    if value is True or value is False:
        return value
    if value in (0, 1) and type(value) is int:
        return bool(value)
    if type(value) is str and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise bad_field(name, "must be true or false")


def choice_parser(*choices: str):
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def parse(name: str, value: Any) -> str:
        if type(value) is not str or value not in allowed:
            raise bad_field(name, f"must be one of {listed}")
        return value

    return parse


def parse_string_list(name: str, value: Any) -> tuple[str, ...]:
    if type(value) is str:
        value = [part for part in value.split(",") if part]
    if type(value) is not list or not all(type(v) is str for v in value):
        raise bad_field(name, "must be a list of strings")
    return tuple(value)


def parse_str_map(name: str, value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise bad_field(name, "must be an object")
    out = {}
    for key, item in value.items():
        if type(item) not in (str, int, float, Decimal):
            raise bad_field(name, f"value of {key!r} must be a string or a number")
        out[key] = item if type(item) is str else str(item)
    return out


def parse_number_map(name: str, value: Any) -> dict[str, float]:
    if type(value) is not dict:
        raise bad_field(name, "must be an object")
    out = {}
    for key, item in value.items():
        if type(item) not in (int, float, Decimal) or type(item) is bool:
            raise bad_field(name, f"value of {key!r} must be a number")
        out[key] = float(item)
    return out


def parse_positions(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    if type(value) is not list:
        raise bad_field(name, "must be a list")
    out = []
    for item in value:
        if type(item) is not dict:
            raise bad_field(name, "each position must be an object")
        try:
            out.append(
                {
                    "symbol": SYMBOL("symbol", item["symbol"]),
                    "con_id": parse_int("con_id", item.get("con_id", 0)),
                    "quantity": parse_decimal("quantity", item["quantity"]),
                    "avg_cost": parse_decimal("avg_cost", item.get("avg_cost", "0")),
                    "sec_type": TEXT16("sec_type", item.get("sec_type", STOCK)),
                    "currency": TEXT16("currency", item.get("currency", "USD")),
                }
            )
        except KeyError as missing:
            raise MessageError(MISSING_FIELD, f"{name}: a position lacks {missing.args[0]}", name)
    return tuple(out)


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def free_text_parser(max_len: int):
    """Text for people (reasons, strategy names): any Unicode but control characters; never sent to IB."""

    def parse(name: str, value: Any) -> str:
        if type(value) is not str:
            raise bad_field(name, "must be a string")
        if len(value) > max_len:
            raise bad_field(name, f"must be at most {max_len} characters")
        if _CONTROL_RE.search(value):
            raise bad_field(name, "must not contain control characters")
        return value

    return parse


SYMBOL = text_parser(32, upper=True)
ACCOUNT = text_parser(32)
TEXT16 = text_parser(16)
TEXT64 = text_parser(64, allow_empty=True)
FREE_TEXT = free_text_parser(2000)
CODE = text_parser(64)
SIDE = choice_parser(*SIDES)
ORDER_TYPE = choice_parser(*ORDER_TYPES)
TIF = choice_parser(*TIFS)
SOURCE = choice_parser(*SOURCES)
HALT_MODE = choice_parser(*HALT_MODES)
GATEWAY_STATE = choice_parser(*GATEWAY_STATES)


def parse_refresh_what(name: str, value: Any) -> tuple[str, ...]:
    what = parse_string_list(name, value)
    unknown = set(what) - set(REFRESH_WHAT)
    if unknown:
        raise bad_field(name, f"unknown item(s) {sorted(unknown)}; allowed: {', '.join(REFRESH_WHAT)}")
    return what or REFRESH_WHAT


def optional(parser):
    def parse(name: str, value: Any):
        return None if value is None else parser(name, value)

    return parse


def plain_decimal(value: Decimal) -> str:
    """Render a Decimal without exponent (``Decimal('1E+2')`` → ``'100'``)."""
    return format(value, "f")
