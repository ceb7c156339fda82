"""Every write of the accounts app: audit rows, the outbox, halts, the kill switch, values, alerts.

Services are keyword-only and atomic; a refusal raises an ``accounts.exceptions`` error and
leaves no rows. ``actor=None`` means the desk itself (monitor, scheduler, bridge): no
membership or permission check applies to it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.announce import announce_object
from accounts.exceptions import (
    AccountNotMember,
    AccountValueInvalid,
    AlertAlreadyResolved,
    AlertNotFound,
    BrokerAccountCodeTaken,
    BrokerAccountInvalid,
    MembershipExists,
    MembershipInvalid,
    PermissionRequired,
)
from accounts.halt_barrier import DESK, halt_barrier_lift_on_commit, halt_barrier_raise
from accounts.models import (
    AccountMembership,
    AccountValue,
    Alert,
    AuditLog,
    BrokerAccount,
    KillSwitch,
    OutboxMessage,
    Role,
    User,
)
from accounts.selectors import user_has_role, user_is_member
from tradeconsole import db
from tradeconsole.exceptions import ApplicationError
from tradeconsole.request_id import current_request_id

COMMANDS_STREAM = "commands"
RISK_STREAM = "risk"


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types: decimals and UUIDs as strings, datetimes as ISO 8601."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _actor_or_none(actor: User | None) -> User | None:
    # An AnonymousUser has no row to point at; the desk itself is recorded as no actor.
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor


def require_actor(actor: User | None, *, account: BrokerAccount | None = None, perm: str | None = None) -> None:
    """Refuse unless ``actor`` may act: a member of ``account`` holding ``perm``.

    ``actor=None`` is the desk itself and always may. A superuser may do anything.

    :raises AccountNotMember: not a member of ``account`` (or not signed in).
    :raises PermissionRequired: a member whose role lacks ``perm``.
    """
    if actor is None:
        return
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise AccountNotMember("Sign in to act on an account.")
    if account is not None and not user_is_member(actor, account):
        raise AccountNotMember(f"You are not a member of account {account.code}.", field="account")
    if perm and not actor.has_perm(perm):
        raise PermissionRequired(f"Your role does not allow this action ({perm}).")


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    account: BrokerAccount | None = None,
    before: dict | None = None,
    after: dict | None = None,
    via: str = "",
) -> AuditLog:
    """Append one audit row for a change, carrying the current request id.

    Call it inside the transaction of the change, so the row exists exactly when the change does.
    The audited object is announced with it (``accounts.announce``): the live pages show it on commit.
    """
    announce_object(obj)
    return db.insert(
        AuditLog(
            actor=_actor_or_none(actor),
            action=action,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            account=account,
            before=jsonable(before) if before is not None else None,
            after=jsonable(after) if after is not None else None,
            request_id=current_request_id(),
            via=via[:16],
        )
    )


def outbox_enqueue(*, type: str, data: dict, stream: str = COMMANDS_STREAM) -> OutboxMessage:
    """Write a message for the relay to publish after this transaction commits.

    ``stream="commands"`` is XADDed to ``{prefix}:commands``; ``stream="risk"`` is SET at
    ``{prefix}:risk:limits:{data["account"]}``. ``data`` is stored as plain JSON.
    """
    return db.insert(OutboxMessage(stream=stream, type=type, data=jsonable(data)))


def account_lock(account_id: int) -> BrokerAccount:
    """Lock the account's row until the current transaction ends, and return it as it is now.

    Halts, memberships and every order service take this lock; plain SQL, as order entry
    takes it on every order and the ORM's statement cost more CPU than the lock.

    :raises BrokerAccount.DoesNotExist: there is no such account.
    """
    account = db.select_one(BrokerAccount, "id = %s", [account_id], lock=True)
    if account is None:
        raise BrokerAccount.DoesNotExist(f"No account {account_id}.")
    return account


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
    account.halted_by = _actor_or_none(actor)
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
    switch.changed_by = _actor_or_none(actor)
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
    switch.changed_by = _actor_or_none(actor)
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


@transaction.atomic
def account_values_update(
    *, account: BrokerAccount, values: dict[str, str], currency: str = "", reported_at: datetime
) -> int:
    """Store the broker's latest account values (tag → value); return how many tags changed.

    Forward-only per tag: a report older than the stored one is ignored. Values are broker
    data, not desk decisions, so no audit row is written.

    :raises AccountValueInvalid: a tag or value is not a short string.
    """
    changed = 0
    for tag, value in values.items():
        tag, value = str(tag), str(value)
        if not tag or len(tag) > 64 or len(value) > 64:
            raise AccountValueInvalid(f"Bad account value {tag[:64]!r}.", field="values")
        row, created = AccountValue.objects.select_for_update().get_or_create(
            account=account,
            tag=tag,
            defaults={"value": value, "currency": currency[:8], "updated_at": reported_at},
        )
        if created:
            changed += 1
        elif row.updated_at <= reported_at and (
            row.value != value or row.currency != currency[:8] or row.updated_at != reported_at
        ):
            row.value, row.currency, row.updated_at = value, currency[:8], reported_at
            row.save(update_fields=["value", "currency", "updated_at"])
            changed += 1
    if changed:
        announce_object(account)
    return changed


def alert_raise(
    *,
    key: str,
    kind: str,
    message: str,
    severity: str = Alert.Severity.WARNING,
    account: BrokerAccount | None = None,
    data: dict | None = None,
    renew: bool = False,
) -> Alert:
    """Open an alert named ``key``, or return the one already open under that key.

    With ``renew`` (the condition got worse, e.g. more dead letters) an alert already open takes
    the new message, severity and data, and one the desk acknowledged is open again, so what it
    shows is never the first occurrence's stale count.

    Safe under concurrency: the partial unique constraint on open keys decides the race.
    """
    existing = Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(key=key).first()
    if existing is not None:
        return _alert_renew(existing, message=message, severity=severity, data=data) if renew else existing
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key[:200],
                kind=kind[:64],
                message=message[:500],
                severity=severity,
                account=account,
                data=jsonable(data or {}),
            )
            announce_object(alert)
            return alert
    except IntegrityError:
        return Alert.objects.exclude(status=Alert.Status.RESOLVED).get(key=key)


@transaction.atomic
def _alert_renew(alert: Alert, *, message: str, severity: str, data: dict | None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    alert.message, alert.severity, alert.data = message[:500], severity, jsonable(data or {})
    fields = ["message", "severity", "data"]
    if alert.status == Alert.Status.ACKNOWLEDGED:
        alert.status, alert.acknowledged_at, alert.acknowledged_by = Alert.Status.OPEN, None, None
        fields += ["status", "acknowledged_at", "acknowledged_by"]
    alert.save(update_fields=fields)
    announce_object(alert)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: User | None, via: str) -> Alert:
    """Mark an open alert as seen by ``actor``; acknowledging twice changes nothing.

    :raises AlertAlreadyResolved: the alert is resolved.
    :raises AccountNotMember, PermissionRequired: ``actor`` may not handle this alert.
    """
    require_actor(actor, account=alert.account, perm="accounts.change_alert")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise AlertAlreadyResolved()
    if alert.status == Alert.Status.ACKNOWLEDGED:
        return alert
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = _actor_or_none(actor)
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit_record(
        actor=actor,
        action="alert.acknowledge",
        obj=alert,
        account=alert.account,
        before={"status": Alert.Status.OPEN},
        after={"status": alert.status},
        via=via,
    )
    return alert


@transaction.atomic
def alert_resolve(
    *, alert: Alert | None = None, key: str | None = None, actor: User | None = None, via: str = ""
) -> Alert | None:
    """Resolve an alert given as ``alert`` or by its ``key``; return it, or None when none is open.

    The monitor calls it with ``key`` whenever a condition clears, so an absent key is a no-op.

    :raises AlertNotFound: neither ``alert`` nor ``key`` given.
    :raises AccountNotMember, PermissionRequired: a person who may not handle this alert.
    """
    if alert is None and not key:
        raise AlertNotFound("Give an alert or its key.")
    queryset = Alert.objects.select_for_update().exclude(status=Alert.Status.RESOLVED)
    alert = queryset.filter(pk=alert.pk).first() if alert is not None else queryset.filter(key=key).first()
    if alert is None:
        return None
    require_actor(actor, account=alert.account, perm="accounts.change_alert")
    before = {"status": alert.status}
    alert.status = Alert.Status.RESOLVED
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["status", "resolved_at"])
    announce_object(alert)
    if actor is not None:
        audit_record(
            actor=actor,
            action="alert.resolve",
            obj=alert,
            account=alert.account,
            before=before,
            after={"status": alert.status},
            via=via,
        )
    return alert


@transaction.atomic
def position_mismatch_acknowledge(*, alert: Alert, actor: User, via: str) -> Alert:
    """Acknowledge a position-mismatch alert; only a Risk manager may (audited by ``alert_acknowledge``).

    The account stays halted: resuming it is a separate, audited ``account_resume``.

    :raises PermissionRequired: ``actor`` is not a Risk manager, or the alert is not a mismatch.
    """
    if alert.kind != "position.mismatch":
        raise PermissionRequired("Only position-mismatch alerts are acknowledged here.")
    if not user_has_role(actor, Role.RISK_MANAGER):
        raise PermissionRequired("A position mismatch must be acknowledged by a Risk manager.")
    return alert_acknowledge(alert=alert, actor=actor, via=via)


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create the role groups and give each exactly the permissions ``accounts.roles`` grants.

    The data migration does this once; run it again after adding models. Returns how many
    permissions each role holds.
    """
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import ROLE_PERMISSIONS, expand

    rows = list(Permission.objects.values_list("pk", "content_type__app_label", "codename"))
    by_key = {(app, codename): pk for pk, app, codename in rows}
    counts: dict[str, int] = {}
    for role, rules in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        granted = expand(rules, list(by_key))
        group.permissions.set([by_key[key] for key in granted])
        counts[str(role)] = len(granted)
    return counts


def kill_switch_hold() -> bool:
    """Hold a shared lock on the kill switch until the transaction ends; return whether it is engaged.

    Order entry calls it inside its transaction: concurrent entries share the lock and do not
    wait for one another, while ``kill_switch_engage`` (``FOR UPDATE``) waits for every entry
    that already holds it and every later entry waits for the engage, then reads it engaged.
    So no order can commit after an engage that it did not see. SQLite has no row locks and
    serialises writers anyway, so the lock clause is left out there.

    Must be called inside ``transaction.atomic``. A missing row (a new database) is created
    released, so that the engage and the entries always meet on the same row.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("kill_switch_hold() must run inside a transaction.")
    table = connection.ops.quote_name(KillSwitch._meta.db_table)
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    # Interpolated names are the model's own table and a constant clause, never input.
    query = f"SELECT engaged FROM {table} WHERE id = 1{lock}"
    with db.cursor() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
        if row is None:
            KillSwitch.objects.get_or_create(pk=1)
            cursor.execute(query)
            row = cursor.fetchone()
    return bool(row[0])


# --- broker accounts and memberships --------------------------------------------------------------

BROKER_ACCOUNT_EDITABLE = ("name", "base_currency", "kind")


def model_validate(
    instance: models.Model,
    *,
    invalid: type[ApplicationError],
    taken: type[ApplicationError],
    exclude: tuple[str, ...] = (),
) -> None:
    """Run the model's own validation (field rules, unique columns, constraints) on ``instance``.

    Translates Django's ``ValidationError`` into the domain's: a uniqueness clash raises
    ``taken``, anything else ``invalid``, each naming the first field at fault.

    :raises invalid: a field breaks its rule.
    :raises taken: a unique column or constraint already holds this value.
    """
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as error:
        for field, errors in error.error_dict.items():
            name = None if field == NON_FIELD_ERRORS else field
            text = " ".join(message for item in errors for message in item.messages)
            label = f"{name}: {text}" if name else text
            if any(item.code in ("unique", "unique_together") for item in errors):
                raise taken(label, field=name) from None
            raise invalid(label, field=name) from None


def save_unique(instance: models.Model, *, taken: type[ApplicationError], **kwargs: Any) -> None:
    """Save ``instance``; a concurrent insert that won a unique column raises ``taken`` instead.

    The savepoint keeps the caller's transaction usable after the clash.
    """
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as error:
        raise taken(field=None) from error


def _broker_account_snapshot(account: BrokerAccount) -> dict:
    return {"code": account.code, **{name: getattr(account, name) for name in BROKER_ACCOUNT_EDITABLE}}


def _broker_account_clean(account: BrokerAccount) -> None:
    account.name = (account.name or "").strip()
    account.base_currency = (account.base_currency or "").strip().upper()
    if not account.name:
        raise BrokerAccountInvalid("The account needs a name.", field="name")
    if len(account.base_currency) != 3 or not account.base_currency.isalpha():
        raise BrokerAccountInvalid("The base currency is a three-letter code, such as USD.", field="base_currency")
    model_validate(account, invalid=BrokerAccountInvalid, taken=BrokerAccountCodeTaken)


@transaction.atomic
def broker_account_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    base_currency: str = "USD",
    kind: str = BrokerAccount.Kind.PAPER,
    via: str,
) -> BrokerAccount:
    """Record a broker account the desk trades (trading enabled, no members yet).

    :raises PermissionRequired: ``actor`` may not add accounts.
    :raises BrokerAccountInvalid: the code is not an IB account code, the name is empty, the
        currency is not three letters or the kind is neither paper nor live.
    :raises BrokerAccountCodeTaken: an account with this code exists.
    """
    require_actor(actor, perm="accounts.add_brokeraccount")
    account = BrokerAccount(code=(code or "").strip().upper(), name=name, base_currency=base_currency, kind=kind)
    _broker_account_clean(account)
    save_unique(account, taken=BrokerAccountCodeTaken)
    audit_record(
        actor=actor,
        action="account.create",
        obj=account,
        account=account,
        after=_broker_account_snapshot(account),
        via=via,
    )
    return account


@transaction.atomic
def broker_account_update(*, account: BrokerAccount, actor: User | None, via: str, **changes: Any) -> BrokerAccount:
    """Change an account's ``name``, ``base_currency`` or ``kind``; its code never changes.

    Halting and resuming have their own services. Nothing changed writes nothing.

    :raises TypeError: a field other than those three.
    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this account.
    :raises BrokerAccountInvalid: a value breaks the rules of ``broker_account_create``.
    """
    unknown = sorted(set(changes) - set(BROKER_ACCOUNT_EDITABLE))
    if unknown:
        raise TypeError(f"unknown broker account fields: {unknown}")
    require_actor(actor, account=account, perm="accounts.change_brokeraccount")
    account = account_lock(account.pk)
    before = _broker_account_snapshot(account)
    for name, value in changes.items():
        setattr(account, name, value)
    _broker_account_clean(account)
    changed = [name for name in BROKER_ACCOUNT_EDITABLE if getattr(account, name) != before[name]]
    if not changed:
        return account
    account.save(update_fields=changed)
    audit_record(
        actor=actor,
        action="account.update",
        obj=account,
        account=account,
        before={name: before[name] for name in changed},
        after={name: getattr(account, name) for name in changed},
        via=via,
    )
    return account


def _membership_snapshot(membership: AccountMembership) -> dict:
    return {"user": membership.user.get_username(), "account": membership.account.code}


@transaction.atomic
def membership_add(*, account: BrokerAccount, user: User, actor: User | None, via: str) -> AccountMembership:
    """Make ``user`` a member of ``account``: from now on they see it and may act on it as their role allows.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not manage this account's members.
    :raises MembershipInvalid: the user is inactive, or either side is not saved.
    :raises MembershipExists: the user is already a member.
    """
    require_actor(actor, account=account, perm="accounts.add_accountmembership")
    if account.pk is None or user.pk is None:
        raise MembershipInvalid("Save the account and the user first.")
    if not user.is_active:
        raise MembershipInvalid(f"{user.get_username()} is inactive.", field="user")
    # Serialises the members of one account, so the check below and the insert agree.
    account = account_lock(account.pk)
    if AccountMembership.objects.filter(account=account, user=user).exists():
        raise MembershipExists(f"{user.get_username()} is already a member of {account.code}.", field="user")
    membership = AccountMembership(account=account, user=user)
    save_unique(membership, taken=MembershipExists)
    audit_record(
        actor=actor,
        action="membership.add",
        obj=membership,
        account=account,
        after=_membership_snapshot(membership),
        via=via,
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: AccountMembership, actor: User | None, via: str) -> None:
    """End a membership: the user no longer sees the account nor acts on it.

    Orders the user entered stay theirs. Removing a membership already gone does nothing.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not manage this account's members.
    """
    require_actor(actor, account=membership.account, perm="accounts.delete_accountmembership")
    account_lock(membership.account_id)
    current = AccountMembership.objects.select_related("user", "account").filter(pk=membership.pk).first()
    if current is None:
        return
    before = _membership_snapshot(current)
    pk = current.pk
    current.delete()
    current.pk = pk  # the audit row names the membership that ended
    audit_record(actor=actor, action="membership.remove", obj=current, account=current.account, before=before, via=via)
