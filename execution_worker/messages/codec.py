"""Encode and decode stream entries, strictly, and check one field for producers (``check_field``).

The envelope is five fields (``v``, ``type``, ``id``, ``ts``, ``data``) and an optional sixth,
``cid``, the correlation id of the log lines (an entry without it decodes with ``cid=""``).
``decode`` is strict: an unknown type, an unknown, missing or malformed ``data`` key, or an entry
over the size limit raises :class:`MessageError` with a stable ``code``. Producers should build the
dataclasses and call ``encode`` so that what they write is what the consumer accepts.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from execution_worker.messages.fields import (
    MISSING_FIELD,
    TOO_LARGE,
    UNDECODABLE,
    UNKNOWN_FIELD,
    UNKNOWN_TYPE,
    UNSUPPORTED_VERSION,
    MessageError,
    bad_field,
    parse_uuid,
    plain_decimal,
)
from execution_worker.messages.specs import CHECKS, REQUIRED
from execution_worker.messages.types import MESSAGE_TYPES, Message

SCHEMA_VERSION = "1"
# Largest accepted ``data`` field, in bytes. A real command is well under 1 KiB; the limit keeps a
# hostile or broken producer from making the worker parse megabytes on the order path.
MAX_DATA_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if type(value) is Decimal:
        return plain_decimal(value)
    if type(value) is tuple:
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=_json_default).encode


def encode(message: Message) -> dict[str, str]:
    """Return the five stream fields (v, type, id, ts, data) of ``message``, and ``cid`` when it has one.

    :raises MessageError: the encoded data exceeds ``MAX_DATA_BYTES``.
    """
    data = _dumps(message.data())
    if len(data) > MAX_DATA_BYTES:
        raise MessageError(TOO_LARGE, f"data is {len(data)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
    fields = {"v": SCHEMA_VERSION, "type": message.TYPE, "id": message.id, "ts": str(message.ts), "data": data}
    if message.cid:
        fields["cid"] = message.cid
    return fields


# json.loads with parse_float builds a new decoder on every call; this one is built once.
_json_decode = json.JSONDecoder(parse_float=Decimal).decode

_ENVELOPE = ("v", "type", "id", "ts", "data")
_ENVELOPE_BYTES = tuple(name.encode() for name in _ENVELOPE)
# The optional sixth field: the correlation id of the log lines (``Message.cid``).
_OPTIONAL = ("cid",)
_CID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _field(fields: dict, name: str, name_bytes: bytes) -> str:
    value = fields.get(name_bytes)
    if value is None:
        value = fields.get(name)
        if value is None:
            raise MessageError(MISSING_FIELD if name != "data" else UNDECODABLE, f"the entry has no {name} field", name)
    if type(value) is bytes:
        if name == "data" and len(value) > MAX_DATA_BYTES:
            raise MessageError(TOO_LARGE, f"data is {len(value)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError(UNDECODABLE, f"{name} is not valid UTF-8", name)
    if type(value) is not str:
        raise MessageError(UNDECODABLE, f"{name} must be a string", name)
    return value


def decode(fields: dict) -> Message:
    """Turn one stream entry's fields (bytes or str keys and values) into its typed message.

    :raises MessageError: anything that does not follow the contract, with a stable ``code``:
        ``message.undecodable`` (no/invalid JSON data, bad encoding), ``message.unsupported_version``,
        ``message.unknown_type``, ``message.missing_field``, ``message.bad_field``,
        ``message.unknown_field``, ``message.too_large``.
    """
    if type(fields) is not dict:
        raise MessageError(UNDECODABLE, "an entry must be a mapping of fields")
    cid = ""
    if len(fields) > 5:
        names = sorted(k.decode("utf-8", "replace") if type(k) is bytes else str(k) for k in fields)
        extra = [n for n in names if n not in _ENVELOPE and n not in _OPTIONAL]
        if extra or len(fields) > 6:
            raise MessageError(UNKNOWN_FIELD, f"unknown envelope field(s): {', '.join(extra or names)}")
        cid = _field(fields, "cid", b"cid")
        if not _CID.match(cid):
            raise bad_field("cid", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
    data_text = _field(fields, "data", b"data")
    if len(data_text) > MAX_DATA_BYTES:
        raise MessageError(TOO_LARGE, f"data is {len(data_text)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
    version = _field(fields, "v", b"v")
    if version != SCHEMA_VERSION:
        raise MessageError(UNSUPPORTED_VERSION, f"schema version {version[:20]!r} is not supported (want 1)", "v")
    type_name = _field(fields, "type", b"type")
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise MessageError(UNKNOWN_TYPE, f"unknown message type {type_name[:64]!r}", "type")
    message_id = parse_uuid("id", _field(fields, "id", b"id"))
    ts_text = _field(fields, "ts", b"ts")
    if not (ts_text.isdigit() and ts_text.isascii() and len(ts_text) <= 20):
        raise bad_field("ts", "must be integer nanoseconds since the epoch")
    try:
        data = _json_decode(data_text)
    except (ValueError, RecursionError) as error:
        raise MessageError(UNDECODABLE, f"data is not valid JSON: {str(error)[:120]}", "data")
    if type(data) is not dict:
        raise MessageError(UNDECODABLE, "data must be a JSON object", "data")
    spec = cls.SPEC
    for key in data:
        if key not in spec:
            raise MessageError(UNKNOWN_FIELD, f"{type_name} has no field {str(key)[:64]!r}", str(key)[:64])
    values: dict[str, Any] = {}
    for name, (parser, default, as_is) in spec.items():
        raw = data.get(name, REQUIRED)
        if raw is REQUIRED:
            if default is REQUIRED:
                raise MessageError(MISSING_FIELD, f"{type_name} needs {name}", name)
            values[name] = default
        elif as_is and type(raw) is type(default) and raw == default:
            # Producers write every field, most at their defaults ("STK", "SMART", false, ""...).
            values[name] = default
        else:
            values[name] = parser(name, raw)
    check = CHECKS.get(cls)
    if check is not None:
        check(values)
    return cls(id=message_id, ts=int(ts_text), cid=cid, **values)


def check_field(type_name: str, name: str, value: Any) -> Any:
    """Return ``value`` parsed as ``decode`` parses the ``data`` key ``name`` of a ``type_name`` message.

    Producers check text at entry with it (a cancel's reason, an order's ``oca_group``), so the
    consumer's rule is the only one: what passes here is never dead-lettered as a bad field.

    :raises MessageError: the consumer would refuse the value (``message.bad_field``).
    :raises KeyError: ``type_name`` or ``name`` is not part of the contract.
    """
    return MESSAGE_TYPES[type_name].SPEC[name][0](name, value)
