"""How a live row writes its values (numbers, times) and wraps its context, shared by every row builder."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone


def num(value: Decimal | None, places: int | None = None) -> str:
    """``value`` as the rows print it: grouped to ``places`` decimals, or plain without trailing zeros."""
    if value is None:
        return ""
    if places is not None:
        return f"{value:,.{places}f}"
    return f"{value.normalize():f}"


def time_text(value) -> str:
    """A moment as the desk's local ``HH:MM:SS`` (empty for None)."""
    return timezone.localtime(value).strftime("%H:%M:%S") if value else ""


def row(kind: str, dom_id: str, ctx: dict, *, account_id: int | None = None) -> dict:
    """Wrap a context as a fan-out row: ``kind`` picks the template, ``id`` the element it replaces."""
    return {"kind": kind, "id": dom_id, "account_id": account_id, "ctx": ctx}
