"""Changes made outside the bridge that the live pages must still show: alerts and PnL points.

The monitoring loop (Celery) raises alerts and stores ``PnLPoint`` rows; it does not know the
live pages. ``stream_bridge`` calls ``DeskWatch.step`` every few seconds: alerts raised,
acknowledged or resolved since the last step, and new PnL points, are fanned out.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from accounts.models import Alert
from orders.models import PnLPoint
from streams import live, rows


class DeskWatch:
    """Fan out what changed since the previous step (the first step starts from now)."""

    def __init__(self, fanout: live.Fanout, *, since: datetime | None = None) -> None:
        self.fanout = fanout
        self.since = since or timezone.now()

    def step(self) -> int:
        """Send the alerts and PnL points changed since the last step; return how many rows were sent."""
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
        return sent
