"""The desk-wide kill switch: engage, release, and the shared lock order entry holds on it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import sql
from accounts.halt_barrier import DESK, halt_barrier_lift_on_commit, halt_barrier_raise
from accounts.models import KillSwitch, User
from accounts.services.audit import audit_record
from accounts.services.common import actor_or_none, require_actor
from accounts.services.outbox import outbox_enqueue


def _lock_kill_switch() -> KillSwitch:
    KillSwitch.objects.get_or_create(pk=1)
    return KillSwitch.objects.select_for_update().get(pk=1)


@transaction.atomic
def kill_switch_engage(*, actor: User | None, reason: str, cancel_working: bool = True, via: str) -> KillSwitch:
    """Engage the desk-wide kill switch: no new order anywhere; by default cancel every working order.

    Writes ``trading.halt`` without an account (every account), mode ``cancel_all`` when
    ``cancel_working`` else ``halt``. Engaging again re-sends the command.

    :raises PermissionRequired: ``actor`` may not use the kill switch.
    """
    require_actor(actor, perm="accounts.change_killswitch")
    switch = _lock_kill_switch()
    before = {"engaged": switch.engaged, "reason": switch.reason}
    switch.engaged = True
    switch.reason = (reason or "Kill switch")[:255]
    switch.changed_at = timezone.now()
    switch.changed_by = actor_or_none(actor)
    switch.save(update_fields=["engaged", "reason", "changed_at", "changed_by"])
    mode = "cancel_all" if cancel_working else "halt"
    audit_record(
        actor=actor,
        action="kill_switch.engage",
        obj=switch,
        before=before,
        after={"engaged": True, "reason": switch.reason, "mode": mode},
        via=via,
    )
    outbox_enqueue(type="trading.halt", data={"mode": mode})
    # Before returning, not on commit: the worker may hold orders already (#15).
    halt_barrier_raise(scope=DESK, reason=switch.reason)
    return switch


@transaction.atomic
def kill_switch_release(*, actor: User | None, via: str, reason: str = "") -> KillSwitch:
    """Release the kill switch and tell the worker (``trading.resume`` without an account).

    ``reason`` (optional) is kept on the switch as the last change's reason and audited.
    Accounts halted one by one stay halted. Releasing a released switch does nothing.

    :raises PermissionRequired: ``actor`` may not use the kill switch.
    """
    require_actor(actor, perm="accounts.change_killswitch")
    switch = _lock_kill_switch()
    if not switch.engaged:
        return switch
    before = {"engaged": switch.engaged, "reason": switch.reason}
    switch.engaged = False
    switch.reason = (reason or "").strip()[:255]
    switch.changed_at = timezone.now()
    switch.changed_by = actor_or_none(actor)
    switch.save(update_fields=["engaged", "reason", "changed_at", "changed_by"])
    audit_record(
        actor=actor,
        action="kill_switch.release",
        obj=switch,
        before=before,
        after={"engaged": False, "reason": switch.reason},
        via=via,
    )
    outbox_enqueue(type="trading.resume", data={})
    halt_barrier_lift_on_commit(scope=DESK)
    return switch


def kill_switch_hold() -> bool:
    """Hold a shared lock on the kill switch until the transaction ends; return whether it is engaged.

    Order entry calls it inside its transaction: concurrent entries share the lock and do not
    wait for one another, while ``kill_switch_engage`` (``FOR UPDATE``) waits for every entry
    that already holds it and every later entry waits for the engage, then reads it engaged.
    So no order can commit after an engage that it did not see.

    Must be called inside ``transaction.atomic``. A missing row (a new database) is created
    released, so that the engage and the entries always meet on the same row.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("kill_switch_hold() must run inside a transaction.")
    engaged = sql.kill_switch_engaged_for_share()
    if engaged is None:
        KillSwitch.objects.get_or_create(pk=1)
        engaged = sql.kill_switch_engaged_for_share()
    return engaged
