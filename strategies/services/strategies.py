"""Every write of strategies themselves: adding one and changing its name, parameters, accounts, switch.

Each change writes an audit row in its transaction. A strategy's graph is not here: it lives in
its versions (``strategies.services.versions``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from accounts.command_text import command_text_check
from accounts.exceptions import AccountNotMember
from accounts.models import BrokerAccount, User
from accounts.services import audit_record, jsonable, model_validate, require_actor, save_unique
from strategies.exceptions import StrategyInvalid, StrategyNameTaken
from strategies.models import Strategy
from strategies.selectors import strategy_list

STRATEGY_EDITABLE = ("name", "description", "parameters", "accounts", "enabled")


def _strategy_snapshot(strategy: Strategy) -> dict[str, Any]:
    return jsonable(
        {
            "name": strategy.name,
            "description": strategy.description,
            "parameters": strategy.parameters,
            "accounts": sorted(strategy.accounts.values_list("code", flat=True)) if strategy.pk else [],
            "enabled": strategy.enabled,
        }
    )


def _check_parameters(parameters: Any) -> dict[str, Any]:
    """Return ``parameters`` as a JSON object of named values, ``None`` meaning none.

    :raises StrategyInvalid: a list, a scalar, an empty or non-string name, or a value JSON cannot hold.
    """
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise StrategyInvalid('Parameters must be a JSON object, such as {"fast": 10, "slow": 30}.', field="parameters")
    if any(not isinstance(key, str) or not key.strip() for key in parameters):
        raise StrategyInvalid("Parameter names must be non-empty text.", field="parameters")
    try:
        return jsonable(parameters)
    except (TypeError, ValueError):
        raise StrategyInvalid("Parameter values must be JSON values.", field="parameters") from None


def _check_accounts(accounts: Any, *, actor: User | None) -> list[BrokerAccount]:
    """Return the accounts as saved rows, refusing any the actor is not a member of."""
    accounts = list(accounts or [])
    if any(not isinstance(account, BrokerAccount) or account.pk is None for account in accounts):
        raise StrategyInvalid("Accounts must be saved broker accounts.", field="accounts")
    for account in accounts:
        require_actor(actor, account=account)
    return accounts


def _strategy_clean(strategy: Strategy) -> None:
    strategy.name = (strategy.name or "").strip()
    if not strategy.name:
        raise StrategyInvalid("The strategy needs a name.", field="name")
    # The name travels in the order.place of every order a session of the strategy enters.
    command_text_check(command="order.place", key="strategy", value=strategy.name, field="name")
    strategy.parameters = _check_parameters(strategy.parameters)
    model_validate(strategy, invalid=StrategyInvalid, taken=StrategyNameTaken)


@transaction.atomic
def strategy_create(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    parameters: dict[str, Any] | None = None,
    accounts: Iterable[BrokerAccount] = (),
    enabled: bool = True,
    via: str,
) -> Strategy:
    """Add a strategy with its parameters and the accounts it may trade (none listed: any account).

    :raises PermissionRequired: ``actor`` may not add strategies.
    :raises AccountNotMember: ``actor`` names an account they are not a member of.
    :raises StrategyInvalid: an empty name, or parameters that are not a JSON object of named values.
    :raises StrategyNameTaken: another strategy has this name.
    """
    require_actor(actor, perm="strategies.add_strategy")
    accounts = _check_accounts(accounts, actor=actor)
    strategy = Strategy(name=name, description=(description or "").strip(), parameters=parameters, enabled=enabled)
    _strategy_clean(strategy)
    save_unique(strategy, taken=StrategyNameTaken)
    strategy.accounts.set(accounts)
    audit_record(actor=actor, action="strategy.create", obj=strategy, after=_strategy_snapshot(strategy), via=via)
    return strategy


@transaction.atomic
def strategy_update(*, strategy: Strategy, actor: User | None, via: str, **changes: Any) -> Strategy:
    """Change fields of a strategy (see ``STRATEGY_EDITABLE``); ``accounts`` replaces the whole list.

    The actor must see the strategy (``strategy_list``) and be a member of every account they
    add or remove; accounts they do not see stay as they are only if passed back unchanged.
    Sessions already running read the new parameters the next time they load the strategy.
    Nothing changed writes nothing.

    :raises TypeError: a field outside ``STRATEGY_EDITABLE``.
    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this strategy or
        these accounts.
    :raises StrategyInvalid, StrategyNameTaken: as ``strategy_create``.
    """
    unknown = sorted(set(changes) - set(STRATEGY_EDITABLE))
    if unknown:
        raise TypeError(f"unknown strategy fields: {unknown}")
    require_actor(actor, perm="strategies.change_strategy")
    if actor is not None and not strategy_list(user=actor).filter(pk=strategy.pk).exists():
        raise AccountNotMember("This strategy trades none of your accounts.")
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    before = _strategy_snapshot(strategy)
    accounts = changes.pop("accounts", None)
    for name, value in changes.items():
        setattr(strategy, name, value)
    _strategy_clean(strategy)
    fields = [name for name in changes if getattr(strategy, name) != before[name]]
    if fields:
        strategy.save(update_fields=fields)
    if accounts is not None:
        current = {account.pk: account for account in strategy.accounts.all()}
        wanted = {account.pk: account for account in _check_accounts(accounts, actor=None)}
        for pk in current.keys() ^ wanted.keys():
            require_actor(actor, account=current.get(pk) or wanted[pk])
        strategy.accounts.set(wanted.values())
    after = _strategy_snapshot(strategy)
    changed = [name for name in STRATEGY_EDITABLE if after[name] != before[name]]
    if changed:
        audit_record(
            actor=actor,
            action="strategy.update",
            obj=strategy,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
            via=via,
        )
    return strategy
