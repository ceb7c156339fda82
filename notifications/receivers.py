"""Hears committed alert changes (``accounts.announce.changed``) and hands each to Celery to be told."""

from __future__ import annotations

import logging

from notifications import tasks

logger = logging.getLogger(__name__)

ALERT = "accounts.alert"


def on_changed(sender, changes: dict, **kwargs) -> None:
    """Queue ``alert_changed`` for each alert among ``changes`` (sent after the commit that changed it)."""
    for kind, key in changes:
        if kind == ALERT:
            tasks.alert_changed.delay(int(key))
