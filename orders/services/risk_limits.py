"""Risk limits: their update by a person and their publication to the worker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import BrokerAccount, OutboxMessage, User
from accounts.services import (
    audit_record,
    outbox_enqueue,
    require_actor,
)
from execution_worker import messages as contract
from orders.exceptions import (
    RiskLimitInvalid,
)
from orders.models import (
    RiskLimit,
)
from orders.policy_fields import POLICY_FIELDS as MONITOR_POLICY_FIELDS
from orders.selectors import allowed_symbols, risk_limit_for_account
from orders.services.common import decimal_text, instrument_resolve

# The limits the worker's gate reads, named as the stream contract names them (allowed_symbols
# is published from allowed_instruments).
RISK_LIMIT_FIELDS = contract.DECIMAL_LIMIT_KEYS + contract.COUNT_LIMIT_KEYS


# The limits the worker does not read: the approval threshold (order entry) and the monitor's
# protection, stale order and retry policies. risk_limit_update changes them like the others.
RISK_POLICY_FIELDS = ("approval_above_notional", "duplicate_window_seconds", *MONITOR_POLICY_FIELDS)


def risk_limits_data(limits: RiskLimit) -> dict[str, Any]:
    """Return the JSON the worker reads at ``{prefix}:risk:limits:{ACCOUNT}``.

    Decimals are strings; ``allowed_symbols`` empty means every instrument.
    """
    data: dict[str, Any] = {"account": limits.account.code}
    for key in contract.DECIMAL_LIMIT_KEYS:
        value = getattr(limits, key)
        data[key] = decimal_text(None if value is None else Decimal(value))
    for key in contract.COUNT_LIMIT_KEYS:
        data[key] = int(getattr(limits, key))
    (symbols_key,) = contract.SYMBOL_LIST_LIMIT_KEYS
    data[symbols_key] = allowed_symbols(limits)
    return data


def risk_limits_publish(*, account: BrokerAccount) -> OutboxMessage:
    """Queue ``account``'s current risk limits for the worker (stream ``risk``, type ``risk.limits``).

    The relay SETs the data at ``{prefix}:risk:limits:{account code}``. An account without a
    ``RiskLimit`` row publishes the model's defaults, which ``order_submit`` also applies.
    """
    return outbox_enqueue(type="risk.limits", stream="risk", data=risk_limits_data(risk_limit_for_account(account)))


def _risk_limit_fields() -> dict[str, Any]:
    """The RiskLimit fields a person may change (every editable column but the account)."""
    return {
        field.name: field
        for field in RiskLimit._meta.concrete_fields
        if field.editable and not field.primary_key and field.name != "account"
    }


def _risk_limit_value(field, raw: Any, limits: RiskLimit) -> Any:
    if raw is None or raw == "":
        if field.null:
            return None
        raise RiskLimitInvalid(f"{field.name} cannot be empty.", field=field.name)
    try:
        value = field.clean(raw, limits)
    except ValidationError as error:
        raise RiskLimitInvalid(f"{field.name}: {' '.join(error.messages)}", field=field.name)
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool) and value < 0:
        raise RiskLimitInvalid(f"{field.name} must be zero or more.", field=field.name)
    return value


@transaction.atomic
def risk_limit_update(*, risk_limit: RiskLimit, actor: User | None, via: str, **changes: Any) -> RiskLimit:
    """Change an account's risk limits and publish them to the worker.

    ``changes`` may name any editable ``RiskLimit`` field (limits are numbers of zero or more;
    nullable ones accept None or "" for "none") and ``allowed_instruments`` (instruments or
    symbols; empty allows every instrument). A ``risk_limit`` not yet saved is created for its
    account. Every change is audited and the new limits are queued for the worker; an update
    that changes nothing writes no audit row but queues the limits again (the worker may have
    lost them, e.g. a new Redis).

    :raises RiskLimitInvalid: an unknown field or a bad value.
    :raises AccountNotMember, PermissionRequired: the actor may not change this account's limits.
    """
    account = risk_limit.account
    require_actor(actor, account=account, perm="orders.change_risklimit")
    editable = _risk_limit_fields()
    unknown = sorted(set(changes) - set(editable) - {"allowed_instruments"})
    if unknown:
        raise RiskLimitInvalid(f"Unknown risk limit field {unknown[0]!r}.", field=unknown[0])
    limits, created = RiskLimit.objects.get_or_create(account=account)
    limits = RiskLimit.objects.select_for_update().select_related("account").get(pk=limits.pk)
    before = {**risk_limits_data(limits), **_policy_data(limits)}
    fields = []
    for name, raw in changes.items():
        if name == "allowed_instruments":
            continue
        value = _risk_limit_value(editable[name], raw, limits)
        if value != getattr(limits, name):
            setattr(limits, name, value)
            fields.append(name)
    if fields:
        limits.save(update_fields=[*fields, "updated_at"])
    if "allowed_instruments" in changes:
        limits.allowed_instruments.set([instrument_resolve(item) for item in changes["allowed_instruments"] or []])
    after = {**risk_limits_data(limits), **_policy_data(limits)}
    if created or after != before:
        audit_record(
            actor=actor, action="risk_limit.update", obj=limits, account=account, before=before, after=after, via=via
        )
    risk_limits_publish(account=account)
    return limits


def _policy_data(limits: RiskLimit) -> dict[str, Any]:
    """The RiskLimit fields the worker does not read (approval, monitoring policies), for the audit row."""
    published = set(RISK_LIMIT_FIELDS)
    return {
        name: getattr(limits, name) for name in _risk_limit_fields() if name not in published and name != "updated_at"
    }
