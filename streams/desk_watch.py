"""The live rows that change with time alone, with no service to announce them, sent every few seconds.

Every change a service makes reaches the pages by its announcement (``streams.publish``). Two
things on the pages change although nothing was written:

- a price ages past ``TRADECONSOLE_PRICE_STALE_SECONDS``: the positions valued at it now say
  "stale" (a new price is announced by ``instrument_record_price``; only ageing is watched here);
- the System page's stream figures (lengths, consumer lag, dead letters) live in Redis, where
  the worker and the bridge change them thousands of times a second without a transaction.

``stream_bridge`` calls ``DeskWatch.step`` every 5 s.
"""

from __future__ import annotations

from django.utils import timezone

from orders.models import Instrument, Position
from orders.valuation import price_is_stale
from streams import live, rows


class DeskWatch:
    """Send the positions whose price turned stale (or fresh) since the last step, and the stream figures."""

    def __init__(self, fanout: live.Fanout) -> None:
        self.fanout = fanout
        self._stale = _stale_instruments()

    def step(self) -> int:
        """Send what time changed since the last step; return how many rows were sent.

        A step that raises (the database went away) keeps the state of the last one, so the next
        step sends what this one did not.
        """
        stale = _stale_instruments()
        turned = {pk for pk in stale.keys() | self._stale.keys() if stale.get(pk) != self._stale.get(pk)}
        by_account: dict[int, list[dict]] = {}
        if turned:
            for position in (
                Position.objects.select_related("account", "instrument")
                .filter(instrument__in=turned)
                .exclude(quantity=0)
            ):
                by_account.setdefault(position.account_id, []).append(rows.position_row(position))
        sent = 0
        for account_id, position_rows in by_account.items():
            self.fanout.send(live.account_group(account_id), position_rows)
            sent += len(position_rows)
        self.fanout.send(live.DESK_GROUP, [rows.system_row()])
        self._stale = stale
        return sent + 1


def _stale_instruments() -> dict[int, bool]:
    """Whether each priced instrument's price is stale now."""
    now = timezone.now()
    return {
        pk: price_is_stale(priced_at=at, now=now)
        for pk, at in Instrument.objects.filter(last_price__isnull=False).values_list("pk", "last_price_at")
    }
