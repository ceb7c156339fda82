"""Signal receivers of the streams app: wake the relay on commit, show order changes that send no
command, close sockets on logout."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import OutboxMessage
from orders.models import OrderEvent, OrderStatus
from streams import live, relay


@receiver(post_save, sender=OutboxMessage, dispatch_uid="streams.outbox_wake_relay")
def outbox_wake_relay(sender, instance: OutboxMessage, created: bool, **kwargs) -> None:
    """When the transaction that wrote an outbox row commits, wake the relay so it publishes at once."""
    if created:
        transaction.on_commit(relay.wake, robust=True)


# Order changes that send the worker no command: an order entered to wait for approval, a refused
# approval, an order cancelled before its command left. The relay shows the others once their
# command is published, and the bridge shows the broker's answers.
_CHANGES_WITHOUT_COMMAND = frozenset({"cancelled", "approval_refused"})


@receiver(post_save, sender=OrderEvent, dispatch_uid="streams.order_change_to_live_pages")
def order_change_to_live_pages(sender, instance: OrderEvent, created: bool, **kwargs) -> None:
    """When an order change that sends no command commits, send the order's and its account's rows."""
    if not created:
        return
    if instance.kind in _CHANGES_WITHOUT_COMMAND or (
        instance.kind == "submitted" and instance.to_status == OrderStatus.PENDING_APPROVAL
    ):
        order_id = instance.order_id
        transaction.on_commit(lambda: _send_order_rows(order_id), robust=True)


def _send_order_rows(order_id: int) -> None:
    from accounts.models import BrokerAccount
    from streams import rows

    for order_row in rows.order_rows(pks=[order_id]):
        account = BrokerAccount.objects.get(pk=order_row["account_id"])
        live.send_rows_now(live.account_group(account.pk), [order_row, rows.account_row(account)])


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
