"""How frames travel: JSON text. A client may name the subprotocol ``tc.json``; nothing else is offered.

A msgpack encoding (``tc.msgpack``) was built and measured against JSON at the benchmark's load
(bench market_topics, commit 47eb79c; figures in the README): 27 % fewer bytes per ``bars.update``
and a cheaper decode in a Python client, but no less CPU in the web process (JSON forwards the
builder's text as it is, msgpack packs per socket) and no better latency. It did not pay, so it
was taken out: a client that offers only ``tc.msgpack`` is answered in JSON with no subprotocol.
"""

from __future__ import annotations

import json

JSON = "tc.json"


def dumps(frame: dict) -> str:
    """``frame`` as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"))


def chosen_subprotocol(offered: list[str]) -> str | None:
    """The subprotocol to accept among those the client offered (None: answer with none)."""
    return JSON if JSON in offered else None
