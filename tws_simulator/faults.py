"""Fault switches shared by every connection, flipped through the control API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Live fault state. Counters count down as the fault fires; booleans stay until switched off."""

    refuse_connections: bool = False
    hang_handshake: bool = False
    client_id_in_use: int = 0
    reply_delay: float = 0.0
    drop_status: int = 0
    duplicate_status: int = 0
    reorder_status: int = 0
    force_4096: bool = False
    # Abort a client's socket right after its n-th next placeOrder (only transmit=False ones if held_only).
    drop_after_orders: int = 0
    drop_held_only: bool = False
    drop_client_id: int | None = None
    market_frozen: bool = False
    connectivity_lost: bool = False
