"""Order chains and OCA groups as TWS keeps them: transmit, parent and child, one-cancels-all.

- An order placed with ``transmit=False`` is held in TWS (status :data:`HELD`, never sent to the API:
  no openOrder, no orderStatus, not in reqOpenOrders) until a placeOrder with ``transmit=True`` for it
  or for one of its children arrives; that transmits the whole chain, parent first, then its held
  children in orderId order. A client that disconnects loses its held orders (TWS discards them).
- A child (``parentId`` = its parent's orderId) of a working parent waits PreSubmitted. The parent's
  fills release it: it works for the quantity its parent has filled, all of it once the parent is
  Filled. Cancelling the parent cancels its children; once the parent has partly filled, its children
  are cut to the filled quantity and keep working (they protect the position the parent opened).
- OCA: orders sharing ``ocaGroup`` on an account are one group; children of one parent without a group
  of their own are one implicit group of type 3 (a bracket's take-profit and stop-loss). When a member
  fills, type 1 cancels every other working member (on any fill, partial too); types 2 and 3 reduce
  each other member in proportion (its size times the share of the group's intent still open, rounded
  down to a whole share for whole-share orders) and cancel it once nothing is left. ocaType 0 (ibapi's
  default) is TWS's default, 3. "Block" changes nothing here: the simulator matches one order at a
  time, so a group never overfills.

It runs on the simulator's loop thread, as the engine does. It works on the order book and reaches
matching through :class:`tws_simulator.ports.Fills`; the book and matching reach it through
:class:`tws_simulator.ports.ChainRules`.
"""

from __future__ import annotations

import math

from tws_simulator import encoder as enc
from tws_simulator.order_state import HELD, LIVE, order_frames, status_frame
from tws_simulator.orders import OrderBook
from tws_simulator.ports import Fills


class Chains:
    """Indexes of children by parent and of OCA members by group, and what a fill or cancel does to them."""

    def __init__(self, book: OrderBook, fills: Fills) -> None:
        self.book = book
        self.fills = fills
        self.children: dict[tuple[int, int], list[dict]] = {}
        self.groups: dict[tuple[str, str], list[dict]] = {}

    # -- index ---------------------------------------------------------------------------------

    def register(self, order: dict) -> None:
        """Index ``order`` under its parent and its OCA group, if it has them."""
        if order["parent_id"]:
            self.children.setdefault((order["client_id"], order["parent_id"]), []).append(order)
        if order["oca_group"]:
            self.groups.setdefault((order["account"], order["oca_group"]), []).append(order)

    def _forget(self, order: dict) -> None:
        for index, key in (
            (self.children, (order["client_id"], order["parent_id"])),
            (self.groups, (order["account"], order["oca_group"])),
        ):
            members = index.get(key)
            if members and order in members:
                members.remove(order)

    def parent_of(self, order: dict) -> dict | None:
        if not order["parent_id"]:
            return None
        return self.book.orders.get((order["client_id"], order["parent_id"]))

    def parent_problem(self, client_id: int, parent_id: int) -> str | None:
        """Why a child of ``parent_id`` cannot be placed, or None (held, working and filled parents take children)."""
        if not parent_id:
            return None
        parent = self.book.orders.get((client_id, parent_id))
        if parent is None or parent["status"] not in LIVE | {HELD, "Filled"}:
            return f"Parent order {parent_id} is not working"
        return None

    # -- transmit ------------------------------------------------------------------------------

    def transmit(self, order: dict) -> None:
        """Transmit ``order``'s chain: its parent if held, then every held child of that parent, by orderId."""
        parent = self.parent_of(order)
        root = parent if parent is not None and parent["status"] == HELD else order
        chain = [root, *sorted(self.children.get((root["client_id"], root["order_id"]), []), key=_order_id)]
        book = self.book
        for member in chain:
            if member is not order and member["status"] != HELD:
                continue
            member["transmit"] = True
            parent = self.parent_of(member)
            if parent is not None and parent["status"] not in LIVE | {"Filled"}:
                # The parent was refused or cancelled on the way: its children are never worked.
                member["status"] = "Cancelled"
                book.tell_owner(
                    member,
                    [
                        ("orderStatus", status_frame(member)),
                        ("error", enc.error(member["order_id"], 202, "Order Canceled - reason:")),
                    ],
                )
                continue
            book.accept(member)

    def hold_child(self, order: dict) -> bool:
        """On acceptance: park a child of an unfilled parent (PreSubmitted, True); cap one of a partly filled one."""
        parent = self.parent_of(order)
        if parent is None or parent["status"] == "Filled":
            return False
        if parent["filled"] > 0:
            order["released"] = parent["filled"]
            return False
        order["waiting"] = True
        order["status"] = "PreSubmitted"
        self.book.tell_owner(order, order_frames(order))
        return True

    def open_quantity(self, order: dict) -> float:
        """What ``order`` may still fill now: its remaining size, capped by what its parent has filled."""
        size = order["quantity"]
        released = order.get("released")
        if released is not None:
            size = min(size, released)
        return size - order["filled"]

    def discard_held(self, client_id: int) -> None:
        """Forget ``client_id``'s untransmitted orders (TWS discards them when their API client goes)."""
        for key, order in list(self.book.orders.items()):
            if order["status"] == HELD and order["client_id"] == client_id:
                self.book.remove(key)
                self._forget(order)

    # -- fills and cancels ---------------------------------------------------------------------

    def on_fill(self, order: dict) -> None:
        """After an execution of ``order``: release its children, then cancel or reduce its OCA group."""
        children = self.children.get((order["client_id"], order["order_id"]))
        if children:
            self._release(order, children)
        self._oca(order)

    def _release(self, parent: dict, children: list[dict]) -> None:
        released = None if parent["status"] == "Filled" else parent["filled"]
        woken = []
        for child in children:
            if child["status"] not in ("PreSubmitted", "Submitted"):
                continue
            child["released"] = released
            if child.get("waiting"):
                child["waiting"] = False
                self.book.activate(child)
            woken.append(child)
        # Every child is Submitted before any works, so a child that fills at once finds its siblings live.
        for child in woken:
            self.fills.work(child, first=False)

    def _oca(self, order: dict) -> None:
        if order["oca_group"]:
            members = self.groups.get((order["account"], order["oca_group"]), [])
            oca_type = order.get("oca_type") or 3
        elif order["parent_id"]:
            key = (order["client_id"], order["parent_id"])
            members = [c for c in self.children.get(key, []) if not c["oca_group"]]
            oca_type = 3
        else:
            return
        others = [m for m in members if m is not order and m["status"] in LIVE]
        if not others:
            return
        if oca_type == 1:
            for member in others:
                self.book.cancel(member, requested=False)
            return
        done = sum(m["filled"] / m.get("oca_base", m["quantity"]) for m in members if m["filled"])
        left = max(0.0, 1.0 - done)
        for member in others:
            base = member.get("oca_base", member["quantity"])
            open_size = base * left
            if float(base).is_integer():
                open_size = float(math.floor(open_size + 1e-6))
            if open_size <= 1e-9:
                self.book.cancel(member, requested=False)
            elif member["filled"] + open_size < member["quantity"] - 1e-9:
                self._resize(member, member["filled"] + open_size, rebase=False)

    def on_cancel(self, order: dict) -> None:
        """After ``order`` was cancelled: cancel its children, or cut them to what it filled."""
        cut = []
        for child in list(self.children.get((order["client_id"], order["order_id"]), [])):
            if child["status"] == HELD:
                self.book.cancel(child)
            elif child["status"] in LIVE:
                if order["filled"] > 0:
                    child["released"] = order["filled"]
                    self._resize(child, order["filled"], rebase=True)
                    cut.append(child)
                else:
                    self.book.cancel(child)
        # Sizes changed under fills the children already had: balance their group again.
        for child in cut:
            if child["filled"]:
                self._oca(child)

    def _resize(self, order: dict, quantity: float, *, rebase: bool) -> None:
        """Cut a working order to ``quantity`` (not below its fills) and tell its owner (openOrder, orderStatus).

        ``rebase``: the cut size is the order's new intent, against which its OCA group's fills count
        (a parent cancelled after a partial fill); an OCA reduction keeps the size the group started with.
        """
        quantity = max(quantity, order["filled"])
        if quantity >= order["quantity"]:
            return
        order["quantity"] = quantity
        if rebase:
            order["oca_base"] = quantity
        if order["filled"] >= quantity - 1e-9:
            order["status"] = "Filled"
        self.book.dirty = True
        self.book.tell_owner(order, order_frames(order))


def _order_id(order: dict) -> int:
    return order["order_id"]
