"""Sending one delivery: the channel's rate limit, the message in its format, the attempt recorded."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications import messages, transport
from notifications.exceptions import DeliveryFailed
from notifications.models import Channel, Delivery

FINAL = (Delivery.Status.SENT, Delivery.Status.FAILED, Delivery.Status.RATE_LIMITED)
RATE_WINDOW = timedelta(minutes=1)


def delivery_attempt(*, delivery_id: int, final: bool = False) -> Delivery:
    """Send delivery ``delivery_id`` once and record the attempt; a delivery already settled is returned as is.

    A channel's delivery first passes its rate limit (deliveries admitted in the last minute,
    counted in PostgreSQL under the channel's lock, so every worker shares one count); one over
    the limit is recorded as rate limited and not sent. A retry of an admitted delivery does not
    count again. A failed attempt is appended to ``errors``; the delivery is failed when the
    failure is permanent or ``final`` (the last retry), otherwise retrying.

    :raises DeliveryFailed: this attempt failed (already recorded).
    """
    delivery = _admit(delivery_id)
    if delivery.status in FINAL:
        return delivery
    try:
        _send(delivery)
    except DeliveryFailed as exc:
        _record_failure(delivery, exc, final=final or exc.permanent)
        raise
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="")
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def _admit(delivery_id: int) -> Delivery:
    delivery = (
        Delivery.objects.select_for_update(of=("self",)).select_related("alert__account", "channel").get(pk=delivery_id)
    )
    if delivery.status in FINAL:
        return delivery
    now = timezone.now()
    if delivery.channel_id is not None and delivery.admitted_at is None:
        channel = Channel.objects.select_for_update().get(pk=delivery.channel_id)
        admitted = Delivery.objects.filter(channel=channel, admitted_at__gt=now - RATE_WINDOW).count()
        if admitted >= channel.rate_limit_per_minute:
            delivery.status = Delivery.Status.RATE_LIMITED
            delivery.last_error = (
                f"{channel.name} sent {admitted} in the last minute (limit {channel.rate_limit_per_minute})"
            )
            delivery.save(update_fields=["status", "last_error"])
            return delivery
        delivery.admitted_at = now
    delivery.attempts += 1
    delivery.save(update_fields=["admitted_at", "attempts"])
    return delivery


def _record_failure(delivery: Delivery, exc: DeliveryFailed, *, final: bool) -> None:
    with transaction.atomic():
        row = Delivery.objects.select_for_update().get(pk=delivery.pk)
        row.errors = [*row.errors, {"at": timezone.now().isoformat(), "attempt": row.attempts, "error": exc.reason}]
        row.last_error = exc.reason
        row.status = Delivery.Status.FAILED if final else Delivery.Status.RETRYING
        row.save(update_fields=["errors", "last_error", "status"])


def _send(delivery: Delivery) -> None:
    item = messages.notice(delivery.event, delivery.alert)
    channel = delivery.channel
    if channel is None:
        subject, body = messages.email_body(item)
        transport.email_send(to=[delivery.recipient], subject=subject, body=body)
        return
    if not channel.enabled:
        raise DeliveryFailed(f"the channel {channel.name} is disabled", permanent=True)
    if channel.kind == Channel.Kind.EMAIL:
        subject, body = messages.email_body(item)
        transport.email_send(to=channel.addresses, subject=subject, body=body)
    elif channel.kind == Channel.Kind.WEBHOOK:
        payload = messages.webhook_payload(item, delivery_id=delivery.pk)
        transport.webhook_post(url=channel.target.strip(), payload=payload, secret=channel.secret)
    elif channel.kind == Channel.Kind.SLACK:
        transport.webhook_post(url=channel.target.strip(), payload=messages.slack_payload(item))
    else:
        transport.webhook_post(url=channel.target.strip(), payload=messages.teams_payload(item))


def deliveries_purge(*, now=None) -> int:
    """Delete the deliveries that ended (sent, failed, rate limited) more than
    ``NOTIFICATIONS_DELIVERY_DAYS`` ago; return how many went.

    A queued or retrying delivery is kept whatever its age: it may still be sent. This is a
    retention delete of messages already told (the alert and its audit rows remain the record), so it
    writes no audit row; running it twice, or in two workers at once, deletes nothing twice.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.NOTIFICATIONS_DELIVERY_DAYS)
    with transaction.atomic():
        deleted, _ = Delivery.objects.filter(status__in=FINAL, created_at__lt=cutoff).delete()
    return deleted
