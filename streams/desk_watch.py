"""Changes made outside the bridge that the live pages must still show, polled every few seconds.

The monitoring loop (Celery) raises alerts, stores ``PnLPoint`` rows and records prices; it does
not know the live pages. ``stream_bridge`` calls ``DeskWatch.step`` every 5 s: alerts raised,
acknowledged or resolved since the last step, new PnL points, positions whose instrument's price
moved, a kill switch engaged or released, and the System page's stream figures are fanned out.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from accounts.models import Alert, KillSwitch
from orders.models import PnLPoint, Position
from streams import live, rows


class DeskWatch:
    """Fan out what changed since the previous step (the first step starts from now)."""

    def __init__(self, fanout: live.Fanout, *, since: datetime | None = None) -> None:
        self.fanout = fanout
        self.since = since or timezone.now()
        self._switches = {switch.pk: _switch_state(switch) for switch in KillSwitch.objects.all()}

    def step(self) -> int:
        """Send what changed since the last step (and the stream figures); return how many rows were sent."""
        now = timezone.now()
        since, self.since = self.since, now
        sent = 0
        alerts = Alert.objects.select_related("account").filter(
            Q(raised_at__gt=since, raised_at__lte=now)
            | Q(acknowledged_at__gt=since, acknowledged_at__lte=now)
            | Q(resolved_at__gt=since, resolved_at__lte=now)
        )
        for alert in alerts:
            group = live.account_group(alert.account_id) if alert.account_id else live.DESK_GROUP
            self.fanout.send(group, [rows.alert_row(alert)])
            sent += 1
        by_account: dict[int, list[dict]] = {}
        for point in PnLPoint.objects.filter(at__gt=since, at__lte=now).order_by("at"):
            by_account.setdefault(point.account_id, []).append(rows.pnl_row(point))
        for account_id, points in by_account.items():
            self.fanout.send(live.account_group(account_id), points)
            sent += len(points)
        # Prices moved: the unrealized PnL of the positions in those instruments changed.
        moved: dict[int, list[dict]] = {}
        for position in (
            Position.objects.select_related("account", "instrument")
            .filter(instrument__last_price_at__gt=since, instrument__last_price_at__lte=now)
            .exclude(quantity=0)
        ):
            moved.setdefault(position.account_id, []).append(rows.position_row(position))
        for account_id, position_rows in moved.items():
            self.fanout.send(live.account_group(account_id), position_rows)
            sent += len(position_rows)
        # The kill switch is engaged and released in the admin or the API, never through the bridge.
        # Compared with what was last sent, not by changed_at: the switch is stamped before its
        # transaction cancels orders and halts accounts, so it may commit after a step's window.
        switches = []
        for switch in KillSwitch.objects.select_related("changed_by"):
            state = _switch_state(switch)
            if self._switches.get(switch.pk) != state:
                self._switches[switch.pk] = state
                switches.append(rows.kill_switch_row(switch))
        self.fanout.send(live.DESK_GROUP, [*switches, rows.system_row()])
        return sent + len(switches) + 1


def _switch_state(switch: KillSwitch) -> tuple:
    return (switch.engaged, switch.changed_at, switch.reason)
