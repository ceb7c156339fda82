"""Signal receivers of the streams app: wake the relay on commit, close sockets on logout.

Rows reach the live pages through ``streams.publish`` (announcements on commit), not from here.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import OutboxMessage
from streams import live, relay


@receiver(post_save, sender=OutboxMessage, dispatch_uid="streams.outbox_wake_relay")
def outbox_wake_relay(sender, instance: OutboxMessage, created: bool, **kwargs) -> None:
    """When the transaction that wrote an outbox row commits, wake the relay so it publishes at once."""
    if created:
        transaction.on_commit(relay.wake, robust=True)


@receiver(user_logged_out, dispatch_uid="streams.close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    """A logged-out session must not keep a live page open (channels #1324): close the user's sockets."""
    if user is not None:
        live.close_user_sockets(user.pk)


@receiver(post_save, sender=get_user_model(), dispatch_uid="streams.close_sockets_on_deactivation")
def close_sockets_on_deactivation(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """A deactivated user's open pages are closed as soon as the change commits."""
    if not created and not instance.is_active:
        user_id = instance.pk
        transaction.on_commit(lambda: live.close_user_sockets(user_id), robust=True)
