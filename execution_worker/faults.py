"""Fault points: die with ``os._exit(137)`` at a named place when ``TC_FAULTPOINT`` names it (tests only).

``TC_FAULTPOINT=after_read_before_place`` (comma-separated for several) makes the worker vanish as
if killed with -9 at that exact point, with no cleanup, so restart behaviour can be tested without
timing races. Unset in production, each check costs one frozenset lookup.
"""

from __future__ import annotations

import os

ARMED = frozenset(name.strip() for name in os.environ.get("TC_FAULTPOINT", "").split(",") if name.strip())

# The points the worker offers, in order along the order path.
POINTS = (
    "after_read_before_place",  # command read from the stream, nothing recorded yet
    "after_record_before_place",  # client_order_id -> orderId durable in Redis, placeOrder not called
    "between_chain_sends",  # a bracket recorded, its parent written with transmit=False, no child sent
    "after_place_before_ack",  # placeOrder bytes written, stream entry not acknowledged
)


def faultpoint(name: str) -> None:
    """Exit the process at once with status 137 when ``name`` is armed."""
    if name in ARMED:
        os._exit(137)
