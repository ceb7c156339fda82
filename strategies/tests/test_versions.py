"""Strategy versions: saved through the compiler, numbered per strategy, immutable, approved by another Risk manager."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection, transaction

from accounts.exceptions import AccountNotMember, PermissionRequired
from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from strategies.engine import compile_graph
from strategies.engine.graph_shape import MAX_BYTES, MAX_NODES
from strategies.exceptions import (
    StrategyGraphRefused,
    StrategyVersionAlreadyApproved,
    StrategyVersionApproveOwn,
    StrategyVersionNotRiskManager,
)
from strategies.models import StrategyVersion
from strategies.services import strategy_version_approve, strategy_version_save, version_may_trade_live
from strategies.services.versions import APPROVE_PERM, SAVE_PERM
from strategies.tests.factories import StrategyFactory, template_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(account):
    strategy = StrategyFactory(name="EMA crossover")
    strategy.accounts.add(account)
    return strategy


def cycle_graph() -> dict:
    """The EMA crossover with each EMA fed from the other (a cycle) and its stop-loss out of bounds."""
    graph = template_graph("ema_crossover")
    graph["edges"] = [e for e in graph["edges"] if e["source"] != "bar"]
    graph["edges"] += [
        {"source": "slow", "sourceHandle": "value", "target": "fast", "targetHandle": "series"},
        {"source": "fast", "sourceHandle": "value", "target": "slow", "targetHandle": "series"},
    ]
    next(n for n in graph["nodes"] if n["id"] == "stop")["data"]["params"]["percent"] = 99.0
    return graph


def rows() -> tuple[int, int]:
    return StrategyVersion.objects.count(), AuditLog.objects.count()


# --- saving ------------------------------------------------------------------------------------------


def test_saving_a_graph_stores_version_1_with_the_plans_hash_and_warmup_and_an_audit_row(strategy, trader):
    graph = template_graph("ema_crossover")
    plan = compile_graph(graph)

    version = strategy_version_save(actor=trader, strategy=strategy, graph=graph, via="api")

    version.refresh_from_db()
    assert (version.number, version.graph, version.graph_hash, version.warmup) == (1, graph, plan.hash, plan.warmup)
    assert version.warmup > 0 and len(version.graph_hash) == 64
    assert (version.author, version.approved_by, version.approved_at) == (trader, None, None)
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.object_type, audit.object_id, audit.via) == (
        "strategy_version.save",
        trader,
        "strategies.strategyversion",
        str(version.pk),
        "api",
    )
    assert audit.after == {
        "strategy": "EMA crossover",
        "number": 1,
        "graph_hash": plan.hash,
        "warmup": plan.warmup,
        "nodes": len(graph["nodes"]),
    }


def test_versions_are_numbered_one_two_three_per_strategy(strategy, trader, account):
    other = StrategyFactory(name="RSI")
    other.accounts.add(account)
    numbers = [
        strategy_version_save(actor=trader, strategy=target, graph=template_graph(name), via="test").number
        for target, name in [
            (strategy, "ema_crossover"),
            (strategy, "rsi_mean_reversion"),
            (other, "rsi_mean_reversion"),
            (strategy, "ema_crossover"),
        ]
    ]
    assert numbers == [1, 2, 1, 3]
    assert list(strategy.versions.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


def test_a_new_save_never_changes_an_earlier_version(strategy, trader):
    first_graph = template_graph("ema_crossover")
    first = strategy_version_save(actor=trader, strategy=strategy, graph=first_graph, via="test")
    changed = copy.deepcopy(first_graph)
    changed["nodes"][1]["data"]["params"]["period"] = 9

    second = strategy_version_save(actor=trader, strategy=strategy, graph=changed, via="test")

    first.refresh_from_db()
    assert (first.number, first.graph, first.graph_hash) == (1, first_graph, compile_graph(first_graph).hash)
    assert second.number == 2 and second.graph_hash != first.graph_hash
    # The caller's dict was not shared with the stored row.
    assert StrategyVersion.objects.get(number=2).graph["nodes"][1]["data"]["params"]["period"] == 9


def test_a_graph_given_as_json_text_is_stored_as_data(strategy, trader):
    graph = template_graph("bollinger_breakout")
    version = strategy_version_save(actor=trader, strategy=strategy, graph=json.dumps(graph, indent=2), via="test")
    version.refresh_from_db()
    assert version.graph == graph
    assert version.graph_hash == compile_graph(graph).hash


def test_a_refused_graph_stores_nothing_and_lists_every_problem_with_its_node_and_port(strategy, trader):
    with pytest.raises(StrategyGraphRefused) as refused:
        strategy_version_save(actor=trader, strategy=strategy, graph=cycle_graph(), via="test")

    assert rows() == (0, 0)
    error = refused.value
    assert error.code == "graph.refused" and error.http_status == 400
    assert {problem["code"] for problem in error.problems} >= {"graph.cycle", "node.bad_parameter"}
    assert all(set(problem) == {"code", "message", "node", "port"} for problem in error.problems)
    assert error.as_dict()["problems"] == error.problems
    bad = [(p["node"], p["port"]) for p in error.problems if p["code"] == "node.bad_parameter"]
    assert bad == [("stop", "percent")]


@pytest.mark.parametrize(
    ("graph", "code"),
    [
        ('{"nodes": [', "graph.not_json"),
        ("[1, 2]", "graph.bad_shape"),
        ({"nodes": [], "edges": [], "colour": "red"}, "graph.unknown_field"),
        ("x" * (MAX_BYTES + 1), "graph.too_large"),
        (
            {"nodes": [{"id": f"n{i}", "type": "bar", "position": {"x": 0, "y": 0}} for i in range(MAX_NODES + 1)]},
            "graph.too_large",
        ),
    ],
    ids=["not-json", "not-an-object", "unknown-field", "too-many-bytes", "too-many-nodes"],
)
def test_a_graph_that_is_not_json_too_large_or_of_unknown_shape_is_refused_before_compiling(
    strategy, trader, graph, code
):
    with pytest.raises(StrategyGraphRefused) as refused:
        strategy_version_save(actor=trader, strategy=strategy, graph=graph, via="test")
    assert code in {problem["code"] for problem in refused.value.problems}
    assert rows() == (0, 0)


def test_a_parameter_out_of_bounds_names_its_node_and_parameter(strategy, trader):
    graph = template_graph("ema_crossover")
    graph["nodes"][1]["data"]["params"]["period"] = 100_000
    with pytest.raises(StrategyGraphRefused) as refused:
        strategy_version_save(actor=trader, strategy=strategy, graph=graph, via="test")
    assert {(p["code"], p["node"], p["port"]) for p in refused.value.problems} == {
        ("node.bad_parameter", "fast", "period")
    }
    assert rows() == (0, 0)


def test_a_viewer_may_not_save_versions(strategy, viewer):
    with pytest.raises(PermissionRequired):
        strategy_version_save(actor=viewer, strategy=strategy, graph=template_graph("ema_crossover"), via="test")
    assert rows() == (0, 0)


def test_a_trader_may_not_save_versions_of_a_strategy_trading_none_of_their_accounts(trader, other_account):
    foreign = StrategyFactory(name="Other desk's")
    foreign.accounts.add(other_account)
    with pytest.raises(AccountNotMember):
        strategy_version_save(actor=trader, strategy=foreign, graph=template_graph("ema_crossover"), via="test")
    assert rows() == (0, 0)


def test_the_roles_grant_saving_to_traders_and_approval_to_risk_managers(viewer, trader, risk_manager):
    assert [viewer.has_perm(SAVE_PERM), trader.has_perm(SAVE_PERM), risk_manager.has_perm(SAVE_PERM)] == [
        False,
        True,
        True,
    ]
    assert [viewer.has_perm(APPROVE_PERM), trader.has_perm(APPROVE_PERM), risk_manager.has_perm(APPROVE_PERM)] == [
        False,
        False,
        True,
    ]
    assert trader.has_perm("strategies.add_strategy") and trader.has_perm("strategies.change_strategy")
    assert not trader.has_perm("strategies.change_strategyversion")


# --- approving ---------------------------------------------------------------------------------------


@pytest.fixture
def version(strategy, trader):
    return strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="test")


def test_a_risk_manager_other_than_the_author_approves_and_it_is_audited(version, risk_manager):
    assert not version_may_trade_live(version)
    graph, graph_hash = version.graph, version.graph_hash
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False):
        approved = strategy_version_approve(actor=risk_manager, version=version, via="admin")

    approved.refresh_from_db()
    assert (approved.approved_by, approved.approved_at) == (risk_manager, datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    assert (approved.graph, approved.graph_hash) == (graph, graph_hash)
    assert version_may_trade_live(approved)
    audit = AuditLog.objects.get(action="strategy_version.approve")
    assert (audit.actor, audit.object_id, audit.via) == (risk_manager, str(version.pk), "admin")
    assert (audit.before, audit.after) == (
        {"approved": False},
        {"approved": True, "strategy": "EMA crossover", "number": 1},
    )


def test_a_risk_manager_may_not_approve_their_own_version(strategy, risk_manager):
    own = strategy_version_save(
        actor=risk_manager, strategy=strategy, graph=template_graph("ema_crossover"), via="test"
    )
    with pytest.raises(StrategyVersionApproveOwn) as refused:
        strategy_version_approve(actor=risk_manager, version=own, via="test")
    assert refused.value.code == "strategy.approve_own_version"
    own.refresh_from_db()
    assert not own.is_approved
    assert not AuditLog.objects.filter(action="strategy_version.approve").exists()


@pytest.mark.parametrize("approver", ["trader", "viewer", "desk"])
def test_only_a_risk_manager_may_approve(request, version, approver):
    actor = None if approver == "desk" else request.getfixturevalue(approver)
    if approver == "trader":
        # Not the author either: the role alone refuses.
        actor = UserFactory(username="trader2", roles=[Role.TRADER], accounts=[version.strategy.accounts.get()])
    with pytest.raises(StrategyVersionNotRiskManager) as refused:
        strategy_version_approve(actor=actor, version=version, via="test")
    assert refused.value.code == "strategy.not_risk_manager"
    version.refresh_from_db()
    assert not version.is_approved and not version_may_trade_live(version)
    assert not AuditLog.objects.filter(action="strategy_version.approve").exists()


def test_an_approved_version_cannot_be_approved_again(version, risk_manager, account):
    strategy_version_approve(actor=risk_manager, version=version, via="test")
    second = UserFactory(username="risk2", roles=[Role.RISK_MANAGER], accounts=[account])
    with pytest.raises(StrategyVersionAlreadyApproved) as refused:
        strategy_version_approve(actor=second, version=version, via="test")
    assert refused.value.code == "strategy.already_approved"
    version.refresh_from_db()
    assert version.approved_by.username == "risk"
    assert AuditLog.objects.filter(action="strategy_version.approve").count() == 1


def test_a_risk_manager_of_another_desk_may_not_approve(version, other_account):
    outsider = UserFactory(username="risk-elsewhere", roles=[Role.RISK_MANAGER], accounts=[other_account])
    with pytest.raises(AccountNotMember):
        strategy_version_approve(actor=outsider, version=version, via="test")
    version.refresh_from_db()
    assert not version.is_approved


# --- two saves at once ---------------------------------------------------------------------------------


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        # The statistics views are a snapshot kept until the transaction ends, unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_saves_at_once_take_consecutive_numbers(account, trader):
    strategy = StrategyFactory(name="Busy")
    strategy.accounts.add(account)
    outcome: dict[str, object] = {}

    def other_save() -> None:
        try:
            outcome["number"] = strategy_version_save(
                actor=trader, strategy=strategy, graph=template_graph("rsi_mean_reversion"), via="test"
            ).number
        except Exception as exc:  # reported to the test below, never swallowed
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=other_save)
    with transaction.atomic():
        first = strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
        thread.start()
        # Commit only once the other save waits for this transaction (the strategy's row lock).
        for _ in range(1000):
            if _waiting_on_a_lock():
                break
            thread.join(0.01)
        assert _waiting_on_a_lock(), f"the second save did not wait for the first: {outcome}"
    thread.join()

    assert "error" not in outcome, outcome.get("error")
    assert (first.number, outcome["number"]) == (1, 2)
    assert list(StrategyVersion.objects.filter(strategy=strategy).values_list("number", flat=True)) == [2, 1]
