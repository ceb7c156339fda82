"""Halting and resuming one account: no new orders, the worker told through the outbox and the barrier."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.halt_barrier import halt_barrier_lift_on_commit, halt_barrier_raise
from accounts.models import BrokerAccount, User
from accounts.services.audit import audit_record
from accounts.services.common import account_lock, actor_or_none, require_actor
from accounts.services.outbox import outbox_enqueue


def _halt_snapshot(account: BrokerAccount) -> dict:
    return {
        "trading_enabled": account.trading_enabled,
        "halted_reason": account.halted_reason,
        "halted_at": account.halted_at,
    }


@transaction.atomic
def account_halt(
    *, account: BrokerAccount, actor: User | None, reason: str, cancel_working: bool = False, via: str
) -> BrokerAccount:
    """Stop new orders on ``account`` and tell the worker (``trading.halt``, mode ``halt`` or ``cancel_all``).

    Halting a halted account updates the reason and sends the command again (so
    ``cancel_working`` can be asked for later). The worker cancels working orders in
    ``cancel_all`` mode; their cancellations come back as broker events.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not halt this account.
    """
    require_actor(actor, account=account, perm="accounts.change_brokeraccount")
    account = account_lock(account.pk)
    before = _halt_snapshot(account)
    account.trading_enabled = False
    account.halted_reason = (reason or "Halted")[:255]
    account.halted_at = timezone.now()
    account.halted_by = actor_or_none(actor)
    account.save(update_fields=["trading_enabled", "halted_reason", "halted_at", "halted_by"])
    mode = "cancel_all" if cancel_working else "halt"
    audit_record(
        actor=actor,
        action="account.halt",
        obj=account,
        account=account,
        before=before,
        after={**_halt_snapshot(account), "mode": mode},
        via=via,
    )
    outbox_enqueue(type="trading.halt", data={"account": account.code, "mode": mode})
    # Before returning, not on commit: the worker may hold this account's orders already (#15).
    halt_barrier_raise(scope=account.code, reason=account.halted_reason)
    return account


@transaction.atomic
def account_resume(*, account: BrokerAccount, actor: User | None, via: str) -> BrokerAccount:
    """Allow new orders on ``account`` again and tell the worker (``trading.resume``).

    Resuming an account that is not halted changes nothing and sends nothing.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not resume this account.
    """
    require_actor(actor, account=account, perm="accounts.change_brokeraccount")
    account = account_lock(account.pk)
    if account.trading_enabled:
        return account
    before = _halt_snapshot(account)
    account.trading_enabled = True
    account.halted_reason = ""
    account.halted_at = None
    account.halted_by = None
    account.save(update_fields=["trading_enabled", "halted_reason", "halted_at", "halted_by"])
    audit_record(
        actor=actor,
        action="account.resume",
        obj=account,
        account=account,
        before=before,
        after=_halt_snapshot(account),
        via=via,
    )
    outbox_enqueue(type="trading.resume", data={"account": account.code})
    halt_barrier_lift_on_commit(scope=account.code)
    return account
