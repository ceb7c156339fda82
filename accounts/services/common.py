"""What every accounts service shares: plain JSON, who may act, the account lock, model validation."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction

from accounts import sql
from accounts.exceptions import AccountNotMember, PermissionRequired
from accounts.models import BrokerAccount, User
from accounts.selectors import user_is_member
from tradeconsole.exceptions import ApplicationError

# The outbox's streams: commands the relay XADDs, and risk limits it SETs for the worker.
COMMANDS_STREAM = "commands"
RISK_STREAM = "risk"


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types: decimals and UUIDs as strings, datetimes as ISO 8601."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def actor_or_none(actor: User | None) -> User | None:
    """Return ``actor`` as the row to record, or None for the desk itself (no actor, or not signed in)."""
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


def account_lock(account_id: int) -> BrokerAccount:
    """Lock the account's row until the current transaction ends, and return it as it is now.

    Halts, memberships and every order service take this lock; plain SQL, as order entry
    takes it on every order and the ORM's statement cost more CPU than the lock.

    :raises BrokerAccount.DoesNotExist: there is no such account.
    """
    account = sql.broker_account_lock(account_id)
    if account is None:
        raise BrokerAccount.DoesNotExist(f"No account {account_id}.")
    return account


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
