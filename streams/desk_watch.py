"""Changes made outside the bridge that the live pages must still show, polled every few seconds.

The monitoring loop (Celery) raises alerts and stores ``PnLPoint`` rows, the market feed
(``streams.market``) records prices, and the admin and the API acknowledge and resolve alerts
and use the kill switch; none of them knows the live pages. ``stream_bridge`` calls
``DeskWatch.step`` every 5 s: alerts raised, acknowledged or resolved, new PnL points (with
their account's row, whose day PnL they move), positions whose instrument's price moved or
turned stale, the kill switch engaged or released (with every account row, whose badge it
changes) and the System page's stream figures are fanned out.

Why a step misses nothing that commits late. A row's timestamps (``raised_at``, ``at``,
``last_price_at``) and its id are set before its transaction commits, and a transaction may stay
open for any time, so neither is a cursor: a window ``(since, now]`` on them, or "ids above the
last one seen", skips a row stamped or numbered before a step and committed after it, and
re-reading an overlap only moves the problem to a longer transaction. So the watch never asks
"what is newer than X"; it asks "what differs from what I last sent", over candidates it can
prove complete:

- Rows that change (an alert until it is resolved, an instrument's last price, the kill switch)
  are read again at every step and compared with the state last seen; whatever a transaction
  commits, however late, is in the next step's read and differs. An alert changes only while it
  is unresolved (resolved is final; a condition that returns raises a new row), so the alerts
  read again are those last seen unresolved, plus the new ones.
- New rows (alerts, PnL points) come from ``Arrivals``, one per table: each step reads every row
  with an id above a *settled* floor and sends those it has not sent before (it remembers the
  ids above the floor). At every step it also reads a high mark ``H`` (the largest visible id)
  and then the transactions holding the table's write lock (``RowExclusiveLock`` in
  ``pg_locks``). An INSERT takes that lock before it draws its id from the sequence and keeps it
  until it commits or rolls back, so the writer of any id up to ``H`` either had ended or was in
  that list. The floor moves up to ``H`` only at a step whose lock list no longer holds any of
  them: every row up to ``H`` is then committed, so seen by that step's read, or gone for good.
  Each committed row is thus read while its id is above the floor, and sent by the first step
  that sees it, once. A transaction left open holds the floor back (the read grows), never a row.

Simpler designs were weighed: stamping rows with ``pg_current_xact_id()`` would need a column on
the monitoring's own tables, and a notification on commit is lost when the watch is down. Here
each step costs a few indexed reads plus one read of ``pg_locks`` per table (0.2 ms).

At its start the watch takes what is committed as already shown, with the rows of writers then
in flight: every change committed after those writers end is sent. Alerts are compared from
that moment on (until then, nothing about them is sent).
"""

from __future__ import annotations

import copy

from django.db import connection
from django.db.models import Max, Model, QuerySet
from django.utils import timezone

from accounts.models import Alert, BrokerAccount, KillSwitch
from orders.models import Instrument, PnLPoint, Position
from orders.valuation import price_is_stale
from streams import live, rows


class Arrivals:
    """The rows inserted into one table since the previous read, each returned once, whatever their commit order."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        high, writers = _high_mark(model), _writers(model)
        self.floor = high
        self.started = not writers
        self._start_writers = writers
        self._marks: list[tuple[int, frozenset[str]]] = []
        self._sent: set[int] = set()

    def read(self, queryset: QuerySet) -> list:
        """Return the rows of ``queryset`` (of this table) not returned before, lowest id first.

        Must run outside a transaction or in READ COMMITTED (each statement sees what has
        committed before it). Rows of the writers in flight when this cursor was made are
        returned only if numbered after it was made; ``started`` says whether those writers
        have all ended. Attributes are replaced, never changed in place, so a shallow copy
        keeps the state before a read.
        """
        high, writers = _high_mark(self.model), _writers(self.model)
        marks = self._marks
        if marks and marks[-1][1] == writers:
            # The same writers hold both marks, so both settle at once: keep the higher.
            marks = marks[:-1]
        marks = [*marks, (high, writers)]
        # A writer of a mark absent from the lock list read just now has ended before this read.
        settled = max((mark for mark, held_by in marks if not held_by & writers), default=self.floor)
        found = [row for row in queryset.filter(pk__gt=self.floor).order_by("pk") if row.pk not in self._sent]
        self.started = self.started or not self._start_writers & writers
        self.floor = max(self.floor, settled)
        self._marks = [(mark, held_by) for mark, held_by in marks if mark > self.floor]
        self._sent = {pk for pk in self._sent.union(row.pk for row in found) if pk > self.floor}
        return found


def _high_mark(model: type[Model]) -> int:
    return model.objects.aggregate(high=Max("pk"))["high"] or 0


def _writers(model: type[Model]) -> frozenset[str]:
    """The transactions (virtual ids) that hold ``model``'s table for writing, other than this connection's."""
    if connection.vendor != "postgresql":
        # SQLite lets one writer in at a time and numbers its rows above every committed one, so
        # an id at or below the largest visible one is never committed later.
        return frozenset()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT virtualtransaction FROM pg_locks"
            " WHERE locktype = 'relation' AND mode = 'RowExclusiveLock'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND relation = %s::regclass AND pid IS DISTINCT FROM pg_backend_pid()",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        return frozenset(vxid for (vxid,) in cursor.fetchall())


class DeskWatch:
    """Fan out what changed since the previous step (the first step compares with the start)."""

    def __init__(self, fanout: live.Fanout) -> None:
        self.fanout = fanout
        self._new_alerts = Arrivals(Alert)
        self._new_points = Arrivals(PnLPoint)
        self._alerts: dict[int, tuple] | None = _open_alerts() if self._new_alerts.started else None
        self._prices = _prices()
        self._switches = {switch.pk: _switch_state(switch) for switch in KillSwitch.objects.all()}

    def step(self) -> int:
        """Send what changed since the last step (and the stream figures); return how many rows were sent.

        A step that raises (the database went away) leaves the watch as it was before it, so
        the next step sends what this one did not (rows already sent may be sent again).
        """
        saved = (copy.copy(self._new_alerts), copy.copy(self._new_points), self._alerts, self._prices, self._switches)
        try:
            return self._step()
        except BaseException:
            self._new_alerts, self._new_points, self._alerts, self._prices, self._switches = saved
            raise

    def _step(self) -> int:
        # The watch's state is replaced, never changed in place, so that ``step`` can restore it.
        sent = 0
        for alert in self._changed_alerts():
            group = live.account_group(alert.account_id) if alert.account_id else live.DESK_GROUP
            self.fanout.send(group, [rows.alert_row(alert)])
            sent += 1
        by_account: dict[int, list[dict]] = {}
        points = self._new_points.read(PnLPoint.objects.all())
        for point in sorted(points, key=lambda point: (point.at, point.pk)):
            by_account.setdefault(point.account_id, []).append(rows.pnl_row(point))
        # A new point moves the account's day PnL on the desk (orders.valuation.account_day_pnl).
        for account in BrokerAccount.objects.filter(pk__in=by_account):
            by_account[account.pk].append(rows.account_row(account))
        for account_id, point_rows in by_account.items():
            self.fanout.send(live.account_group(account_id), point_rows)
            sent += len(point_rows)
        # Prices moved: the unrealized PnL of the positions in those instruments changed.
        prices = _prices()
        moved_instruments = [pk for pk, price in prices.items() if self._prices.get(pk) != price]
        self._prices = prices
        moved: dict[int, list[dict]] = {}
        if moved_instruments:
            for position in (
                Position.objects.select_related("account", "instrument")
                .filter(instrument__in=moved_instruments)
                .exclude(quantity=0)
            ):
                moved.setdefault(position.account_id, []).append(rows.position_row(position))
        for account_id, position_rows in moved.items():
            self.fanout.send(live.account_group(account_id), position_rows)
            sent += len(position_rows)
        # The kill switch is engaged and released in the admin or the API, never through the bridge.
        switches = []
        states = {}
        for switch in KillSwitch.objects.select_related("changed_by"):
            states[switch.pk] = _switch_state(switch)
            if self._switches.get(switch.pk) != states[switch.pk]:
                switches.append(rows.kill_switch_row(switch))
        self._switches = states
        if switches:
            # Every account's badge says halted while the switch is engaged.
            for account in BrokerAccount.objects.all():
                self.fanout.send(live.account_group(account.pk), [rows.account_row(account)])
                sent += 1
        self.fanout.send(live.DESK_GROUP, [*switches, rows.system_row()])
        return sent + len(switches) + 1

    def _changed_alerts(self) -> list[Alert]:
        """Alerts new or changed since they were last seen, oldest first; remember the unresolved ones."""
        found = {alert.pk: alert for alert in self._new_alerts.read(Alert.objects.select_related("account"))}
        if self._alerts is None:
            if not self._new_alerts.started:
                return []
            # Committed by now, rows of writers in flight at the start included: taken as shown.
            self._alerts = _open_alerts()
            return []
        if self._alerts:
            found.update(
                (alert.pk, alert) for alert in Alert.objects.select_related("account").filter(pk__in=self._alerts)
            )
        changed = []
        alerts = dict(self._alerts)
        for pk in sorted(found):
            alert = found[pk]
            state = _alert_state(alert)
            if alerts.get(pk) != state:
                changed.append(alert)
            if alert.status == Alert.Status.RESOLVED:
                alerts.pop(pk, None)
            else:
                alerts[pk] = state
        self._alerts = alerts
        return changed


def _open_alerts() -> dict[int, tuple]:
    return {alert.pk: _alert_state(alert) for alert in Alert.objects.exclude(status=Alert.Status.RESOLVED)}


def _alert_state(alert: Alert) -> tuple:
    return (alert.status, alert.severity, alert.message, alert.acknowledged_at, alert.resolved_at)


def _prices() -> dict[int, tuple]:
    # Whether a price is stale is part of its state: a price that ages past the limit changes the
    # rows valued at it (they say "stale") although no transaction touched it.
    now = timezone.now()
    return {
        pk: (price, at, price is not None and price_is_stale(priced_at=at, now=now))
        for pk, price, at in Instrument.objects.values_list("pk", "last_price", "last_price_at")
    }


def _switch_state(switch: KillSwitch) -> tuple:
    return (switch.engaged, switch.changed_at, switch.reason)
