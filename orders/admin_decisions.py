"""The strategy decision behind an order, as its admin page shows it: the session, the bar, the action and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orders.models import Order
from orders.selectors import order_decision


def decision_html(order: Order) -> SafeString | str:
    """The decision that placed ``order`` (session, bar time, action, node, outcome) and its values as a table."""
    decision = order_decision(order)
    if decision is None:
        return "—"
    bar = datetime.fromtimestamp(decision.bar_time, tz=UTC)
    head = format_html(
        '<p><a href="{}">Session {}</a>: {} on the bar of {} UTC ({}), by node <code>{}</code>, {}.</p>',
        reverse("admin:strategies_tradingsession_change", args=[decision.session_id]),
        decision.session_id,
        decision.action,
        bar.strftime("%Y-%m-%d %H:%M"),
        decision.bar_time,
        decision.node,
        decision.get_outcome_display().lower(),
    )
    rows = why_rows(decision.values)
    if not rows:
        return head
    body = format_html_join("", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    return format_html(
        '{}<table class="decision-why"><thead><tr><th>Node</th><th>Type</th><th>Port</th><th>Value</th></tr>'
        "</thead><tbody>{}</tbody></table>",
        head,
        body,
    )


def why_rows(values: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(node, type, port, value as text) for each output in a decision's ``values``, in their order."""
    return [
        (node, entry.get("type", ""), port, value_text(value))
        for node, entry in (values or {}).items()
        if isinstance(entry, dict)
        for port, value in (entry.get("outputs") or {}).items()
    ]


def value_text(value: Any) -> str:
    """A value as the desk reads it: numbers to four places at most, true/false, a sizing or exit as key=value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        return ", ".join(f"{key}={value_text(item)}" for key, item in value.items())
    return str(value)
