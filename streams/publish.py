"""The one route from a committed change to the live pages: announcements in, group sends out.

Services announce what they changed (``accounts.announce``); once their transaction commits,
``publish`` renders the changed rows from the database (``streams.rows``), in a publishing thread
of the committing process, and sends them to the Channels groups of the pages that show them,
with a sequence number per group (``live.Fanout``).
Whoever the actor was (admin action, API call, Celery task, the bridge applying a broker event,
the runner), the row takes this route; nothing else sends rows, except the market feed's
quotes and the desk watch's time-driven rows (see streams/README.md).

What each kind of change sends:

- an order: its blotter row; its account's row too when the order started or stopped working
  (or was not seen by this process before): the desk's row counts the working orders only;
- an account: its desk row; the kill switch: its banner to the desk and every account's row
  (the halted badge);
- a position: its row; an instrument (its price moved): the rows of the open positions in it;
- a trading session, an alert: their rows; a PnL point: the chart's point and its account's row
  (the day PnL); a process heartbeat: its row, and the gateway badge for the execution worker;
- an audit row of a fill, a rejected order, a halt or the kill switch: its notice (a toast) to the
  notice groups of the users entitled to it (``streams.notices``).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import OrderedDict, defaultdict

from django.db import close_old_connections, connection, transaction
from django.dispatch import receiver

from accounts.announce import changed
from accounts.models import Alert, BrokerAccount, KillSwitch, ProcessHeartbeat
from orders.models import PnLPoint, Position
from streams import live, notices, rows, sql

logger = logging.getLogger(__name__)

ORDER = "orders.order"
ACCOUNT = "accounts.brokeraccount"
KILL_SWITCH = "accounts.killswitch"
POSITION = "orders.position"
INSTRUMENT = "orders.instrument"
SESSION = "strategies.tradingsession"
ALERT = "accounts.alert"
PNL_POINT = "orders.pnlpoint"
PROCESS = "accounts.processheartbeat"  # keyed by the process's name
EXECUTION = "execution"
IDLE_CLOSE_SECONDS = 1.0

_sender: live.Fanout | None = None
_sender_lock = threading.Lock()

# Whether each order was working when its rows last went out from this process (see ``publish``).
# Updated only once the rows were queued: a send that failed must not hide the change from the next.
_working: OrderedDict[int, bool] = OrderedDict()
_working_lock = threading.Lock()
_WORKING_CACHE_SIZE = 10_000


def use(sender: live.Fanout | None) -> None:
    """Send through ``sender`` from now on (``None``: a ``Fanout`` of this process, made when first needed)."""
    global _sender
    with _sender_lock:
        _sender = sender


def sender() -> live.Fanout:
    """The ``Fanout`` this process sends rows through (one daemon thread, made on first use)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = live.Fanout()
        return _sender


@receiver(changed, dispatch_uid="streams.publish")
def on_changed(sender, changes: dict, **kwargs) -> None:
    """Publish the rows of a commit's announcements, from this process's publishing thread.

    Rendering the rows (a new order's account row is a few queries, ~4 ms) stays off the path of
    the request, task or batch that committed: the thread sees the commit through its own
    connection, and under load it renders the announcements of several commits at once.
    """
    if transaction.get_connection().in_atomic_block:
        # Commit hooks inside an enclosing transaction (tests do this): only this connection sees the rows.
        publish(changes)
        return
    _publisher().put(changes)


class _Publisher:
    """One daemon thread per process that publishes queued announcements, merged, in order."""

    def __init__(self) -> None:
        self._queue: list[dict] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        threading.Thread(target=self._run, name="publish", daemon=True).start()
        # What is still queued when the process ends goes out first (a lost row would leave no gap).
        atexit.register(self.drain)

    def put(self, changes: dict) -> None:
        with self._lock:
            self._queue.append(changes)
        self._wake.set()

    def drain(self) -> None:
        """Publish every queued announcement now, merged into one set of rows."""
        with self._lock:
            queued, self._queue = self._queue, []
            if not queued:
                return
            self._busy = True
        try:
            self._publish_merged(queued)
        finally:
            with self._lock:
                self._busy = False
                self._idle.notify_all()

    def settle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being published; return whether that happened within ``timeout`` s."""
        self._wake.set()
        with self._lock:
            return self._idle.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _publish_merged(self, queued: list[dict]) -> None:
        merged: dict = {}
        for changes in queued:
            for key, ts in changes.items():
                merged[key] = max(merged.get(key) or 0, ts or 0) or None
        try:
            close_old_connections()
            publish(merged)
        except Exception:
            # The change is committed; a page that misses it sees its next update, or reloads.
            logger.warning("could not publish %d announcement(s)", len(merged), exc_info=True)

    def _run(self) -> None:
        while True:
            if not self._wake.wait(IDLE_CLOSE_SECONDS):
                # Quiet for a while: give the database connection back (a test database can then
                # be dropped; the next change reconnects, off every request's path).
                connection.close()
                self._wake.wait()
            self._wake.clear()
            self.drain()


_publisher_instance: _Publisher | None = None


def settle(timeout: float = 5.0) -> bool:
    """Wait until this process's publishing thread has published everything queued; return whether it did.

    A test that committed changes calls this before its database is flushed: the thread must not
    read tables while they are truncated (a deadlock), nor publish one test's rows into the next.
    """
    with _sender_lock:
        instance = _publisher_instance
    return instance is None or instance.settle(timeout)


def _publisher() -> _Publisher:
    global _publisher_instance
    with _sender_lock:
        if _publisher_instance is None:
            _publisher_instance = _Publisher()
        return _publisher_instance


def publish(changes: dict[tuple[str, object], int | None]) -> bool:
    """Render the rows the announced ``changes`` touch and queue them for their groups; return whether all were queued.

    ``changes`` maps (kind, key) to the producer time (ns) of the event behind the change, or None;
    each row carries it as ``src_ts`` (the pages' latency figures).
    """
    by_kind: dict[str, dict] = defaultdict(dict)
    for (kind, key), ts in changes.items():
        by_kind[kind][key] = ts
    by_group: dict[str, list[dict]] = defaultdict(list)

    def add(group: str, row: dict, ts: int | None) -> None:
        row["src_ts"] = ts
        by_group[group].append(row)

    accounts: dict[int, int | None] = {int(pk): ts for pk, ts in by_kind[ACCOUNT].items()}

    def touch_account(pk: int, ts: int | None) -> None:
        accounts[pk] = max(accounts.get(pk) or 0, ts or 0) or None

    working: dict[int, bool] = {}
    # Each kind is read only when something of it changed: most commits touch one or two kinds.
    if by_kind[ORDER]:
        orders = {int(pk): ts for pk, ts in by_kind[ORDER].items()}
        for order_row in rows.order_rows(pks=orders):
            pk, account_id, ts = order_row["ctx"]["pk"], order_row["account_id"], orders.get(order_row["ctx"]["pk"])
            add(live.account_group(account_id), order_row, ts)
            if _working.get(pk) is not order_row["ctx"]["working"]:
                touch_account(account_id, ts)
                working[pk] = order_row["ctx"]["working"]
    switches = []
    if by_kind[KILL_SWITCH]:
        ts = max((t or 0 for t in by_kind[KILL_SWITCH].values()), default=0) or None
        for switch in KillSwitch.objects.select_related("changed_by").filter(pk__in=by_kind[KILL_SWITCH]):
            switches.append((rows.kill_switch_row(switch), ts))
        # Every account's badge says halted while the switch is engaged.
        for pk in BrokerAccount.objects.values_list("pk", flat=True):
            touch_account(pk, ts)
    points: dict[int, list] = defaultdict(list)
    if by_kind[PNL_POINT]:
        for point in PnLPoint.objects.filter(pk__in=by_kind[PNL_POINT]).order_by("at", "pk"):
            points[point.account_id].append((rows.pnl_row(point), by_kind[PNL_POINT].get(point.pk)))
            # A new point moves the account's day PnL on the desk.
            touch_account(point.account_id, by_kind[PNL_POINT].get(point.pk))
    if accounts:
        for account_row in rows.account_rows(accounts):
            add(live.account_group(account_row["account_id"]), account_row, accounts[account_row["account_id"]])
    for account_id, point_rows in points.items():
        for row, ts in point_rows:
            add(live.account_group(account_id), row, ts)
    _positions(by_kind, add)
    if by_kind[SESSION]:
        for session in sql.sessions_for_rows(list(by_kind[SESSION])):
            add(live.account_group(session.account_id), rows.session_row(session), by_kind[SESSION].get(session.pk))
    if by_kind[ALERT]:
        for alert in Alert.objects.select_related("account").filter(pk__in=by_kind[ALERT]).order_by("pk"):
            group = live.account_group(alert.account_id) if alert.account_id else live.DESK_GROUP
            add(group, rows.alert_row(alert), by_kind[ALERT].get(alert.pk))
    for row, ts in switches:
        add(live.DESK_GROUP, row, ts)
    if by_kind[PROCESS]:
        for beat in ProcessHeartbeat.objects.filter(name__in=by_kind[PROCESS]):
            ts = by_kind[PROCESS].get(beat.name)
            if beat.name == EXECUTION:
                add(live.DESK_GROUP, rows.gateway_row(beat), ts)
            add(live.DESK_GROUP, rows.process_row(beat), ts)
    if by_kind[notices.AUDIT]:
        audited = by_kind[notices.AUDIT]
        for group, notice_rows in notices.notice_groups(notices.notice_rows(audited)).items():
            for row in notice_rows:
                add(group, row, audited.get(row["ctx"]["audit_id"]))
    return _send(by_group, working)


def _positions(by_kind: dict[str, dict], add) -> None:
    """Add the rows of the positions announced, and of the open positions in instruments whose price moved."""
    if not by_kind[POSITION] and not by_kind[INSTRUMENT]:
        return
    found = Position.objects.select_related("account", "instrument")
    if by_kind[POSITION]:
        for position in found.filter(pk__in=by_kind[POSITION]):
            add(live.account_group(position.account_id), rows.position_row(position), by_kind[POSITION][position.pk])
    if by_kind[INSTRUMENT]:
        moved = found.filter(instrument__in=by_kind[INSTRUMENT]).exclude(quantity=0).exclude(pk__in=by_kind[POSITION])
        for position in moved:
            ts = by_kind[INSTRUMENT].get(position.instrument_id)
            add(live.account_group(position.account_id), rows.position_row(position), ts)


def _send(by_group: dict[str, list[dict]], working: dict[int, bool]) -> bool:
    queued = True
    fanout = sender()
    for group, group_rows in by_group.items():
        stamps = [row["src_ts"] for row in group_rows if row.get("src_ts")]
        queued &= fanout.send(group, group_rows, src_ts=max(stamps) if stamps else None)
    if queued and working:
        with _working_lock:
            for pk, now_working in working.items():
                _working.pop(pk, None)
                _working[pk] = now_working
            while len(_working) > _WORKING_CACHE_SIZE:
                _working.popitem(last=False)
    return queued
