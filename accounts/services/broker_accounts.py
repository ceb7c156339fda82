"""Broker accounts: recording and editing the accounts the desk trades, and the broker's account values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from accounts.announce import announce_object
from accounts.exceptions import AccountValueInvalid, BrokerAccountCodeTaken, BrokerAccountInvalid
from accounts.models import AccountValue, BrokerAccount, User
from accounts.services.audit import audit_record
from accounts.services.common import account_lock, model_validate, require_actor, save_unique

BROKER_ACCOUNT_EDITABLE = ("name", "base_currency", "kind")


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
