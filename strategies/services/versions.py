"""Every write of strategy versions: saving a graph as a new immutable version, and approving one.

A version is written once, by ``strategy_version_save``, with the graph the compiler accepted;
afterwards only its approval (``strategy_version_approve``) is ever written. Backtests and
sessions pin a version; a broker session needs an approved one (``version_may_trade_live``).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.exceptions import AccountNotMember
from accounts.models import User
from accounts.services import audit_record, require_actor
from strategies.engine import GraphRefused, compile_graph
from strategies.exceptions import (
    StrategyGraphRefused,
    StrategyVersionAlreadyApproved,
    StrategyVersionApproveOwn,
    StrategyVersionNotRiskManager,
)
from strategies.models import Strategy, StrategyVersion
from strategies.selectors import strategy_list

# Held by the Risk manager role (accounts.roles), and by Admins, who hold every permission.
APPROVE_PERM = "strategies.approve_strategyversion"
SAVE_PERM = "strategies.add_strategyversion"


def _visible(actor: User | None, strategy: Strategy) -> None:
    if actor is not None and not strategy_list(user=actor).filter(pk=strategy.pk).exists():
        raise AccountNotMember("This strategy trades none of your accounts.")


def graph_refusal(refused: GraphRefused) -> StrategyGraphRefused:
    """Return the application error (``graph.refused``) carrying every problem of ``refused``."""
    problems = [problem.as_dict() for problem in refused.problems]
    count = len(problems)
    return StrategyGraphRefused(
        f"The strategy graph has {count} problem{'s' if count != 1 else ''}; nothing was saved.", problems=problems
    )


@transaction.atomic
def strategy_version_save(
    *, actor: User | None, strategy: Strategy, graph: dict[str, Any] | str, via: str
) -> StrategyVersion:
    """Compile ``graph`` (a React Flow graph, as a dict or JSON text) and keep it as the strategy's next version.

    Versions are numbered 1, 2, … per strategy; the strategy's row is locked so two saves at once
    take consecutive numbers. The graph is stored as compiled, with the plan's hash and warm-up.
    The compiler checks JSON, size limits, fields, types, parameters and wiring before anything
    is written, so a refused graph stores nothing.

    :raises PermissionRequired: ``actor`` may not save versions (Traders may).
    :raises AccountNotMember: the strategy trades none of ``actor``'s accounts.
    :raises StrategyGraphRefused: the compiler refused the graph (``problems`` lists every one).
    """
    require_actor(actor, perm=SAVE_PERM)
    _visible(actor, strategy)
    try:
        plan = compile_graph(graph)
    except GraphRefused as refused:
        raise graph_refusal(refused) from None
    if isinstance(graph, str):
        # The compiler accepted it as JSON text within its limits: keep the data, not the text.
        graph = json.loads(graph)
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    last = strategy.versions.aggregate(last=Max("number"))["last"] or 0
    version = StrategyVersion.objects.create(
        strategy=strategy,
        number=last + 1,
        graph=graph,
        graph_hash=plan.hash,
        warmup=plan.warmup,
        author=actor,
    )
    audit_record(
        actor=actor,
        action="strategy_version.save",
        obj=version,
        after={
            "strategy": strategy.name,
            "number": version.number,
            "graph_hash": version.graph_hash,
            "warmup": version.warmup,
            "nodes": plan.node_count,
        },
        via=via,
    )
    return version


@transaction.atomic
def strategy_version_approve(*, actor: User | None, version: StrategyVersion, via: str) -> StrategyVersion:
    """Approve ``version`` for sessions that send orders to the broker (paper forward tests need none).

    Only a Risk manager other than the version's author may approve; an approval is final.

    :raises StrategyVersionNotRiskManager: ``actor`` is not a Risk manager (or is the desk itself).
    :raises AccountNotMember: the strategy trades none of ``actor``'s accounts.
    :raises StrategyVersionApproveOwn: ``actor`` wrote this version.
    :raises StrategyVersionAlreadyApproved: the version was approved already.
    """
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_perm(APPROVE_PERM):
        # The desk itself never approves: approval is a person's judgement, recorded by name.
        raise StrategyVersionNotRiskManager()
    _visible(actor, version.strategy)
    version = StrategyVersion.objects.select_for_update().select_related("strategy").get(pk=version.pk)
    if version.author_id == actor.pk:
        raise StrategyVersionApproveOwn()
    if version.is_approved:
        raise StrategyVersionAlreadyApproved(
            f"{version} was approved on {version.approved_at:%Y-%m-%d %H:%M} UTC by {version.approved_by}."
        )
    version.approved_by, version.approved_at = actor, timezone.now()
    version.save(update_fields=["approved_by", "approved_at"])
    audit_record(
        actor=actor,
        action="strategy_version.approve",
        obj=version,
        before={"approved": False},
        after={"approved": True, "strategy": version.strategy.name, "number": version.number},
        via=via,
    )
    return version


def version_may_trade_live(version: StrategyVersion) -> bool:
    """Return whether a session of ``version`` may send orders to the broker: it was approved.

    Paper forward tests fill in the runner and need no approval; broker sessions do.
    """
    return version.is_approved
