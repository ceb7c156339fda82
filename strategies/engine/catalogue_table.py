"""The node catalogue as the README's Markdown table (``python -m strategies.engine.catalogue_table``)."""

from __future__ import annotations

from strategies.engine.catalogue import catalogue

START = "<!-- node-catalogue:start (python -m strategies.engine.catalogue_table) -->"
END = "<!-- node-catalogue:end -->"
DASH = "\u2013"  # the README writes ranges with an en dash
SHORT = {"number_series": "number", "boolean_series": "boolean", "scalar": "scalar", "signal": "signal"}


def _port(port: dict) -> str:
    kind = SHORT[port["kind"]] + (f" ({port['role']})" if port.get("role") else "")
    optional = "" if port.get("required", True) else "?"
    return f"`{port['name']}{optional}` {kind}"


def _param(param: dict) -> str:
    if param["kind"] == "choice":
        return f"`{param['name']}` {'/'.join(param['choices'])} ({param['default']})"
    if param["kind"] == "bool":
        return f"`{param['name']}` bool ({param['default']})"
    return f"`{param['name']}` {param['min']:g}{DASH}{param['max']:g} ({param['default']:g})"


def markdown() -> str:
    """The table of every node type: type, category, inputs (``?`` optional), outputs, parameters (default)."""
    lines = [START, "", "| type | category | inputs | outputs | parameters (default) |", "|---|---|---|---|---|"]
    for entry in catalogue():
        cells = (
            f"`{entry['type']}`",
            entry["category"],
            ", ".join(_port(p) for p in entry["inputs"]),
            ", ".join(_port(p) for p in entry["outputs"]),
            ", ".join(_param(p) for p in entry["params"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", END])


if __name__ == "__main__":
    print(markdown())
