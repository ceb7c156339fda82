"""The rows of a live page's ``rows`` frame: each row rendered once per content, and whether it stays on the page."""

from __future__ import annotations

import json
from collections import OrderedDict

from django.template.loader import render_to_string

from orders.search import row_matches

_render_cache: OrderedDict[tuple, str] = OrderedDict()
_RENDER_CACHE_SIZE = 4096


def row_json(row: dict, flags: dict, op: str, version: tuple, ts: int | None) -> str:
    """The JSON of one row of a ``rows`` frame, rendered with the template the page used at first load.

    ``version`` (epoch, group, seq) names the row's content, so the render and the JSON are made
    once per daphne process for every page with the same permissions, not once per socket.
    """
    key = (version, row["id"], tuple(sorted(flags.items())), op, ts)
    text = _render_cache.get(key)
    if text is None:
        html = (
            ""
            if row["kind"] == "pnl"
            else render_to_string(f"streams/rows/{row['kind']}.html", {"row": row["ctx"], **flags})
        )
        text = json.dumps(
            {
                "id": row["id"],
                "kind": row["kind"],
                "html": html,
                "op": op,
                "data": row["ctx"] if row["kind"] == "pnl" else None,
                "ts": ts,
            },
            separators=(",", ":"),
        )
        _render_cache[key] = text
        if len(_render_cache) > _RENDER_CACHE_SIZE:
            _render_cache.popitem(last=False)
    return text


def row_op(row: dict, filters: dict[str, str]) -> str:
    """``remove`` when the row no longer matches the page's ``filters``, else ``upsert``."""
    ctx = row["ctx"]
    if row["kind"] != "order":
        return "upsert"
    status = filters.get("status")
    if status and ctx.get("status") != status:
        return "remove"
    strategy = filters.get("strategy")
    if strategy and str(ctx.get("strategy_id") or "") != strategy:
        return "remove"
    if filters.get("working") == "1" and not ctx.get("working") and not ctx.get("final"):
        return "remove"
    if filters.get("q") and not row_matches(
        filters["q"],
        symbol=ctx.get("symbol") or "",
        account=ctx.get("account") or "",
        client_order_id=ctx.get("client_order_id") or "",
        strategy=ctx.get("strategy") or "",
        reject_reason=ctx.get("reject_reason") or "",
    ):
        return "remove"
    return "upsert"
