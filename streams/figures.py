"""A process's heartbeat figures as people read them: words for keys, rounded numbers, units.

The heartbeat rows keep the figures as each process reports them (``ProcessHeartbeat.data``);
this turns them into one line of the Desk's process list, e.g. ``in flight 0 · orders sent 12 ·
latency p50 1.2 ms, p99 3.4 ms (40 samples)`` instead of ``in_flight=0, …`` and ``n 1.0``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

SEPARATOR = " · "
MAX_LENGTH = 400
# A latency summary's parts in reading order (execution_worker.stats.summary).
SUMMARY_PARTS = ("p50", "p99", "p999", "max")


def figure_number(value) -> str:
    """A number as read: whole numbers with thousands separators, others to at most 2 decimals."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.quantize(Decimal('0.01')).normalize():,f}"


def _label(key: str) -> tuple[str, str]:
    # "latency_ms" reads "latency" with the unit "ms".
    words = key.replace("_", " ").strip()
    for unit in ("ms", "s"):
        if words.endswith(f" {unit}"):
            return words[: -len(unit) - 1], f" {unit}"
    return words, ""


def _value(value, unit: str) -> str:
    if isinstance(value, dict):
        if any(part in value for part in SUMMARY_PARTS):
            parts = [f"{part} {figure_number(value[part])}{unit}" for part in SUMMARY_PARTS if part in value]
            samples = figure_number(value["n"]) if "n" in value else ""
            count = f" ({samples} sample{'' if samples == '1' else 's'})" if samples else ""
            return ", ".join(parts) + count
        return ", ".join(f"{_label(k)[0]} {_value(v, _label(k)[1])}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) if value else "none"
    if isinstance(value, int | float | Decimal) or (isinstance(value, str) and _numeric(value)):
        return f"{figure_number(value)}{unit}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def figures_text(data: dict | None) -> str:
    """One line of a heartbeat's figures, keys in order; a latency summary with its percentiles.

    Empty summaries (no samples yet) are left out; the line is cut at ``MAX_LENGTH`` characters.
    """
    parts = []
    for key, value in sorted((data or {}).items()):
        if isinstance(value, dict) and not value:
            continue
        words, unit = _label(key)
        if isinstance(value, dict) and not any(part in value for part in SUMMARY_PARTS):
            parts.append(f"{words}: {_value(value, unit)}")
        else:
            parts.append(f"{words} {_value(value, unit)}")
    text = SEPARATOR.join(parts)
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"
