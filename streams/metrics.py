"""The Prometheus series of the stream bridge and relay, the marketdata process and the strategy runner.

Everything is read when Prometheus scrapes (``tradeconsole.metrics.serve`` serves them on each
process's loopback port), so the loops themselves pay nothing:

- ``StreamFigures``: for the command, event and dead-letter streams, the entries ever added (rate()
  of it: commands and events per second), their length, each consumer group's lag and pending;
  the outbox's backlog (rows not yet published, the oldest one's age); and, in the bridge's own
  process, the events it applied and dead-lettered.
- ``DeskFigures``: the alerts not yet resolved (by severity, kind and status) and the age of each
  process's last heartbeat, so the dashboard shows what the System page shows.
- ``ProcessFigures``: the numbers a process already reports in its heartbeat (the bar builder's
  ticks and batches, the runner's bars and decisions), one gauge each.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.db import connection
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.models import Alert, OutboxMessage, ProcessHeartbeat
from streams import keys
from streams.redis_client import get_redis

logger = logging.getLogger("streams.metrics")

_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _release_connection() -> None:
    # Each scrape runs in a thread of its own, whose connection must not outlive it; a caller inside
    # a transaction (a test) keeps its own.
    if not connection.in_atomic_block:
        connection.close()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamFigures(Collector):
    """The streams, their groups and the outbox, read at each scrape; ``bridge``: that bridge's own counts."""

    def __init__(self, bridge=None, client=None) -> None:
        self.bridge = bridge
        self.client = client

    def collect(self):
        added = CounterMetricFamily(
            "tradeconsole_stream_entries_added",
            "Entries ever added to the stream (rate: per second).",
            labels=["stream"],
        )
        length = GaugeMetricFamily("tradeconsole_stream_length", "Entries the stream holds.", labels=["stream"])
        lag = GaugeMetricFamily(
            "tradeconsole_stream_group_lag", "Entries the consumer group has not read yet.", labels=["stream", "group"]
        )
        pending = GaugeMetricFamily(
            "tradeconsole_stream_group_pending",
            "Entries the consumer group read and has not acknowledged.",
            labels=["stream", "group"],
        )
        behind = GaugeMetricFamily(
            "tradeconsole_stream_group_lag_seconds",
            "Age of the oldest entry the consumer group has not read yet (0: caught up).",
            labels=["stream", "group"],
        )
        client = self.client or get_redis()
        for name in (keys.commands_stream(), keys.events_stream(), keys.dlq_stream()):
            try:
                info = client.xinfo_stream(name)
                groups = client.xinfo_groups(name)
            except Exception:
                # No such stream yet (a fresh desk), or Redis away: the series is absent, not zero.
                continue
            added.add_metric([name], float(info.get("entries-added", info.get("length", 0)) or 0))
            length.add_metric([name], float(info.get("length", 0)))
            for group in groups:
                labels = [name, _text(group.get("name"))]
                if group.get("lag") is not None:
                    lag.add_metric(labels, float(group["lag"]))
                pending.add_metric(labels, float(group.get("pending", 0)))
                behind.add_metric(labels, _unread_age(client, name, group.get("last-delivered-id")))
        yield from (added, length, lag, pending, behind)
        yield from self._outbox()
        if self.bridge is not None:
            yield CounterMetricFamily(
                "tradeconsole_bridge_events_applied", "Events this bridge applied.", value=self.bridge.applied
            )
            yield CounterMetricFamily(
                "tradeconsole_bridge_events_dead_lettered",
                "Events this bridge sent to the dead-letter stream.",
                value=self.bridge.dead_lettered,
            )

    def _outbox(self):
        try:
            waiting = OutboxMessage.objects.filter(published_at__isnull=True)
            count = waiting.count()
            oldest = waiting.order_by("id").values_list("created_at", flat=True).first()
        except Exception:
            logger.warning("the outbox backlog could not be read", exc_info=True)
            return
        finally:
            _release_connection()
        yield GaugeMetricFamily("tradeconsole_outbox_backlog", "Outbox rows not yet published.", value=count)
        age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "tradeconsole_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0: none).", value=age
        )


def _unread_age(client, stream: str, last_delivered) -> float:
    """Seconds since the first entry after ``last_delivered`` was added (an entry id is its ms time)."""
    after = f"({_text(last_delivered or '0-0')}"
    try:
        entries = client.xrange(stream, min=after, max="+", count=1)
    except Exception:
        return 0.0
    if not entries:
        return 0.0
    added_ms = int(_text(entries[0][0]).split("-")[0])
    return max(0.0, time.time() - added_ms / 1000.0)


class DeskFigures(Collector):
    """Alerts not yet resolved and the age of every process's heartbeat, read from PostgreSQL at each scrape."""

    def collect(self):
        try:
            alerts = list(
                Alert.objects.exclude(status=Alert.Status.RESOLVED)
                .values("severity", "kind", "status")
                .annotate(n=Count("id"))
                .order_by()
            )
            beats = list(ProcessHeartbeat.objects.values_list("name", "last_seen_at", "state"))
        except Exception:
            logger.warning("the desk's alerts and heartbeats could not be read", exc_info=True)
            return
        finally:
            _release_connection()
        open_alerts = GaugeMetricFamily(
            "tradeconsole_alerts_unresolved", "Alerts not yet resolved.", labels=["severity", "kind", "status"]
        )
        for row in alerts:
            open_alerts.add_metric([row["severity"], row["kind"], row["status"]], float(row["n"]))
        yield open_alerts
        now = timezone.now()
        age = GaugeMetricFamily(
            "tradeconsole_process_heartbeat_age_seconds",
            "Seconds since the process's last heartbeat (state: what it last said).",
            labels=["process", "state"],
        )
        for name, seen_at, state in beats:
            age.add_metric([name, state], (now - seen_at).total_seconds())
        yield age


class ProcessFigures(Collector):
    """One gauge per number of ``figures()`` (nested one level: the loop's name is a label), read at each scrape.

    Names are ``tradeconsole_<process>_<figure>``; a figure that is not a number (or a boolean) is left out.
    """

    def __init__(self, process: str, figures: Callable[[], dict], *, labels: dict[str, str] | None = None) -> None:
        self.process = process
        self.figures = figures
        self.labels = labels or {}

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        try:
            figures = self.figures()
        except Exception:
            logger.warning("%s figures could not be read", self.process, exc_info=True)
            return
        for key, value in figures.items():
            if isinstance(value, dict):
                for name, number in value.items():
                    self._add(families, name, number, {"loop": str(key)})
            else:
                self._add(families, key, value, {})
        yield from families.values()

    def _add(self, families: dict, name: str, value, labels: dict[str, str]) -> None:
        if not isinstance(value, int | float):
            return
        labels = {**self.labels, **labels}
        metric = _NOT_A_NAME.sub("_", f"tradeconsole_{self.process}_{name}")
        family = families.get(metric)
        if family is None:
            family = families[metric] = GaugeMetricFamily(
                metric, f"The {self.process} process's {name} (as its heartbeat reports it).", labels=sorted(labels)
            )
        family.add_metric([labels[label] for label in sorted(labels)], float(value))
