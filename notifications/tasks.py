"""Celery tasks of notifications: an alert's change told, one delivery sent (retried with backoff), the follow-up.

Thin: each calls one service. A delivery's retries wait with a countdown that never exceeds
``NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS``, well inside the broker's visibility timeout.
"""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import transaction

from notifications import services
from notifications.exceptions import DeliveryFailed
from notifications.models import Delivery


def deliveries_send(deliveries: list[Delivery]) -> None:
    """Hand each of ``deliveries`` to Celery once the current transaction commits (at once outside one)."""
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: delivery_send.delay(pk))


@shared_task(name="notifications.tasks.alert_changed", ignore_result=True)
def alert_changed(alert_id: int) -> int:
    """Tell the routed channels and people what changed in alert ``alert_id``; return how many deliveries."""
    deliveries = services.alert_notify(alert_id=alert_id)
    deliveries_send(deliveries)
    return len(deliveries)


@shared_task(name="notifications.tasks.delivery_send", bind=True, ignore_result=True, max_retries=None)
def delivery_send(self, delivery_id: int) -> str:
    """Send delivery ``delivery_id``; a failure is retried with exponential backoff up to
    ``NOTIFICATIONS_MAX_RETRIES`` times, then recorded as failed. Returns the delivery's status."""
    retries = self.request.retries or 0
    final = retries >= settings.NOTIFICATIONS_MAX_RETRIES
    try:
        return services.delivery_attempt(delivery_id=delivery_id, final=final).status
    except DeliveryFailed as exc:
        if final or exc.permanent:
            return Delivery.Status.FAILED
        countdown = get_exponential_backoff_interval(
            factor=settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS,
            retries=retries,
            maximum=settings.NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=False,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="notifications.tasks.follow_up_run", ignore_result=True)
def follow_up_run() -> int:
    """Escalate the critical alerts nobody acknowledged in time (each once per rule) and tell what a
    lost announcement missed; return how many deliveries. Harmless to repeat."""
    deliveries = services.alert_escalations_due() + services.alerts_untold()
    deliveries_send(deliveries)
    return len(deliveries)


@shared_task(name="notifications.tasks.deliveries_purge", ignore_result=True)
def deliveries_purge() -> int:
    """Delete the deliveries that ended long ago (``NOTIFICATIONS_DELIVERY_DAYS``); return how many."""
    return services.deliveries_purge()
