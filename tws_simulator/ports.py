"""The small protocols the simulator's parts meet through, so no part imports the class it talks to.

- :class:`Host`: what a connection and the controls use of the simulator (``Simulator`` satisfies it).
- :class:`Broker`: what they use of the paper broker (``Engine`` satisfies it).
- :class:`Session` and :class:`Client`: what the broker and the controls use of a connection.
- :class:`ChainRules` and :class:`Fills`: what the order book and matching use of the chains and of
  matching, which are built after them and handed in (``Chains`` and ``Matching`` satisfy them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, TypeVar, runtime_checkable

from tws_simulator.config import SimulatorConfig
from tws_simulator.faults import Faults
from tws_simulator.ledger import Ledger
from tws_simulator.market import Market, Quote
from tws_simulator.parser import ExecutionFilter, PlaceOrder

T = TypeVar("T")


class Session(Protocol):
    """What the broker needs of a connected client (implemented by the connection)."""

    client_id: int
    positions_subscribed: bool
    account_summaries: dict[int, list[str]]
    market_data: dict[int, tuple[str, bool]]

    def send(self, frames: list[bytes]) -> None: ...

    def send_order_messages(self, items: list[tuple[str, bytes]]) -> None: ...


class Client(Session, Protocol):
    """What the simulator and its controls need of a connection: a session they can see the state of and close."""

    state: str

    def close(self, *, graceful: bool = False) -> None: ...


class Broker(Protocol):
    """What connections and controls ask of the paper broker. Every call runs on the loop thread."""

    @property
    def market(self) -> Market: ...

    @property
    def sessions(self) -> Mapping[int, Session]: ...

    def open_session(self, session: Session) -> None: ...

    def close_session(self, session: Session) -> None: ...

    def next_valid_id(self, client_id: int) -> int: ...

    def open_order_frames(self, client_id: int | None) -> list[bytes]: ...

    def place_order(self, session: Session, po: PlaceOrder) -> None: ...

    def cancel_order(self, session: Session, order_id: int) -> None: ...

    def global_cancel(self) -> None: ...

    def position_frames(self) -> list[bytes]: ...

    def account_summary_frames(self, req_id: int, tags: list[str]) -> list[bytes]: ...

    def execution_frames(self, req_id: int, flt: ExecutionFilter) -> list[bytes]: ...

    def on_market_step(self, symbol: str) -> None: ...

    def queue_order_fault(self, fault: dict) -> None: ...

    def roll_back_next_valid_id(self, client_id: int, by: int) -> int: ...

    def clear_order_faults(self) -> None: ...

    def fill_order(self, *, client_id: int, order_id: int, quantity: float | None, price: float | None) -> dict: ...

    def correct_execution(self, exec_id: str | None = None) -> dict: ...

    def inject_external_fill(
        self, *, account: str, symbol: str, action: str, quantity: float, price: float | None
    ) -> dict: ...

    def state(self) -> dict: ...


@runtime_checkable
class Host(Protocol):
    """What a connection and the controls use of the simulator that runs them."""

    config: SimulatorConfig
    faults: Faults
    ledger: Ledger
    loop: asyncio.AbstractEventLoop

    @property
    def engine(self) -> Broker: ...

    @property
    def connections(self) -> AbstractSet[Client]: ...

    def register(self, conn: Client) -> None: ...

    def unregister(self, conn: Client) -> None: ...

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T: ...

    def broadcast(self, frames: list[bytes]) -> None: ...

    def publish_quote(self, quote: Quote) -> None: ...

    def close_listener(self) -> None: ...

    def reopen_listener(self) -> None: ...

    def listening(self) -> bool: ...

    def reset_engine(self) -> None: ...

    def save_state(self) -> None: ...


class ChainRules(Protocol):
    """What the order book and matching ask of transmit chains and OCA groups."""

    def register(self, order: dict) -> None: ...

    def parent_problem(self, client_id: int, parent_id: int) -> str | None: ...

    def transmit(self, order: dict) -> None: ...

    def hold_child(self, order: dict) -> bool: ...

    def open_quantity(self, order: dict) -> float: ...

    def on_fill(self, order: dict) -> None: ...

    def on_cancel(self, order: dict) -> None: ...


class Fills(Protocol):
    """What the order book asks of matching: watch a working order, work it, or fill it now."""

    def rest(self, order: dict) -> None: ...

    def work(self, order: dict, *, first: bool) -> None: ...

    def touch(self, order: dict) -> float: ...

    def execute(self, order: dict, qty: float, price: float, *, liquidity: int) -> dict[str, Any]: ...
