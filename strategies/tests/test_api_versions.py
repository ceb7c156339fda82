"""The strategy versions API: node types, save (import), list, export, approve, by role, with stable codes."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from strategies.api import versions as version_views
from strategies.engine import catalogue, compile_graph
from strategies.engine.graph_shape import MAX_BYTES
from strategies.models import StrategyVersion
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory, template_graph

pytestmark = pytest.mark.django_db

NODE_TYPES_URL = reverse("api-v1:strategy-node-types")


@pytest.fixture
def strategy(account):
    strategy = StrategyFactory(name="EMA crossover")
    strategy.accounts.add(account)
    return strategy


def versions_url(strategy) -> str:
    return reverse("api-v1:strategy-version-list", kwargs={"pk": strategy.pk})


def version_url(strategy, number: int, action: str = "detail") -> str:
    return reverse(f"api-v1:strategy-version-{action}", kwargs={"pk": strategy.pk, "number": number})


def post_graph(api_client, strategy, body, content_type: str = "application/json"):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return api_client.generic("POST", versions_url(strategy), text, content_type=content_type)


# --- node types ------------------------------------------------------------------------------------


def test_the_node_types_are_the_engines_catalogue_for_any_desk_role(api_client, viewer):
    api_client.force_authenticate(viewer)
    response = api_client.get(NODE_TYPES_URL)
    assert response.status_code == 200
    assert response.json() == catalogue()
    assert len(response.json()) >= 25
    ema = next(node for node in response.json() if node["type"] == "ema")
    assert ema["params"][0]["name"] == "period" and ema["params"][0]["min"] >= 1


def test_the_node_types_are_built_once_per_process(api_client, viewer):
    version_views.node_types.cache_clear()
    api_client.force_authenticate(viewer)
    api_client.get(NODE_TYPES_URL)
    api_client.get(NODE_TYPES_URL)
    assert version_views.node_types.cache_info().misses == 1


def test_the_node_types_need_a_desk_role(api_client, user):
    assert api_client.get(NODE_TYPES_URL).status_code in (401, 403)
    api_client.force_authenticate(user)
    assert api_client.get(NODE_TYPES_URL).status_code == 403


# --- save, list, export ----------------------------------------------------------------------------


def test_a_trader_saves_a_graph_and_gets_the_version_with_its_graph(api_client, trader, strategy):
    api_client.force_authenticate(trader)
    graph = template_graph("ema_crossover")

    response = post_graph(api_client, strategy, graph)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["strategy"], body["author"], body["approved"]) == (1, "EMA crossover", "trader", False)
    assert (body["graph"], body["graph_hash"]) == (graph, compile_graph(graph).hash)
    assert AuditLog.objects.get().action == "strategy_version.save"


def test_export_then_import_round_trips_the_graph(api_client, trader, strategy, account):
    api_client.force_authenticate(trader)
    post_graph(api_client, strategy, template_graph("rsi_mean_reversion"))
    exported = api_client.get(version_url(strategy, 1)).json()
    copy_of = StrategyFactory(name="RSI copy")
    copy_of.accounts.add(account)

    imported = post_graph(api_client, copy_of, exported["graph"])

    assert imported.status_code == 201
    assert (imported.json()["graph"], imported.json()["graph_hash"]) == (exported["graph"], exported["graph_hash"])
    assert api_client.get(version_url(copy_of, 1)).json()["graph"] == template_graph("rsi_mean_reversion")


def test_the_list_shows_versions_newest_first_without_their_graphs(api_client, trader, viewer, strategy):
    for name in ("ema_crossover", "bollinger_breakout"):
        strategy_version_save(actor=trader, strategy=strategy, graph=template_graph(name), via="test")
    api_client.force_authenticate(viewer)

    response = api_client.get(versions_url(strategy))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["number"] for row in results] == [2, 1]
    assert all("graph" not in row for row in results)


def test_a_refused_graph_answers_400_graph_refused_with_every_problem_and_stores_nothing(api_client, trader, strategy):
    api_client.force_authenticate(trader)
    graph = template_graph("ema_crossover")
    graph["nodes"][1]["data"]["params"]["period"] = 0
    graph["nodes"].append({"id": "mystery", "type": "astrology", "position": {"x": 0, "y": 0}})

    response = post_graph(api_client, strategy, graph)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "graph.refused"
    assert {(p["code"], p["node"], p["port"]) for p in body["problems"]} >= {
        ("node.bad_parameter", "fast", "period"),
        ("node.unknown_type", "mystery", None),
    }
    assert all(set(p) == {"code", "message", "node", "port"} for p in body["problems"])
    assert (StrategyVersion.objects.count(), AuditLog.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"nodes": [}', "graph.not_json"),
        (b'{"nodes": "\xff"}', "graph.not_json"),
        ('"just text"', "graph.bad_shape"),
        ('{"nodes": [], "edges": [], "extra": 1}', "graph.unknown_field"),
        (json.dumps({"nodes": [], "edges": [], "viewport": {"pad": "x" * MAX_BYTES}}), "graph.too_large"),
    ],
    ids=["not-json", "not-utf8", "not-an-object", "unknown-field", "too-large"],
)
def test_a_body_that_is_not_a_graph_is_refused_with_its_problem(api_client, trader, strategy, body, code):
    api_client.force_authenticate(trader)
    response = post_graph(api_client, strategy, body)
    assert response.status_code == 400
    assert response.json()["code"] == "graph.refused"
    assert code in {p["code"] for p in response.json()["problems"]}
    assert StrategyVersion.objects.count() == 0


def test_a_graph_not_sent_as_json_is_an_unsupported_media_type(api_client, trader, strategy):
    api_client.force_authenticate(trader)
    response = post_graph(api_client, strategy, "nodes=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert StrategyVersion.objects.count() == 0


def test_a_viewer_may_read_but_not_save_versions(api_client, viewer, strategy):
    api_client.force_authenticate(viewer)
    assert api_client.get(versions_url(strategy)).status_code == 200
    response = post_graph(api_client, strategy, template_graph("ema_crossover"))
    assert response.status_code == 403
    assert StrategyVersion.objects.count() == 0


def test_a_strategy_of_another_desk_is_not_found(api_client, trader, other_account):
    foreign = StrategyFactory(name="Other desk's")
    foreign.accounts.add(other_account)
    api_client.force_authenticate(trader)
    assert api_client.get(versions_url(foreign)).status_code == 404
    assert post_graph(api_client, foreign, template_graph("ema_crossover")).status_code == 404
    assert api_client.get(version_url(foreign, 1)).status_code == 404
    assert StrategyVersion.objects.count() == 0


# --- approve ---------------------------------------------------------------------------------------


@pytest.fixture
def version(strategy, trader):
    return strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="test")


def test_a_risk_manager_approves_a_traders_version(api_client, risk_manager, strategy, version):
    api_client.force_authenticate(risk_manager)
    response = api_client.post(version_url(strategy, 1, "approve"))
    assert response.status_code == 200
    assert (response.json()["approved"], response.json()["approved_by"]) == (True, "risk")
    assert AuditLog.objects.filter(action="strategy_version.approve", via="api", actor=risk_manager).count() == 1


@pytest.mark.parametrize("who", ["viewer", "other_trader"])
def test_only_a_risk_manager_reaches_the_approval(api_client, request, account, strategy, version, who):
    if who == "other_trader":
        actor = UserFactory(username="trader2", roles=[Role.TRADER], accounts=[account])
    else:
        actor = request.getfixturevalue(who)
    api_client.force_authenticate(actor)

    response = api_client.post(version_url(strategy, 1, "approve"))

    # The API's early gate, as for every write (the service's own code is strategy.not_risk_manager).
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    version.refresh_from_db()
    assert not version.is_approved


def test_a_risk_manager_may_not_approve_their_own_version(api_client, risk_manager, strategy):
    api_client.force_authenticate(risk_manager)
    assert post_graph(api_client, strategy, template_graph("ema_crossover")).status_code == 201

    response = api_client.post(version_url(strategy, 1, "approve"))

    assert (response.status_code, response.json()["code"]) == (403, "strategy.approve_own_version")
    assert not StrategyVersion.objects.get().is_approved


def test_approving_twice_is_a_conflict(api_client, risk_manager, strategy, version):
    api_client.force_authenticate(risk_manager)
    api_client.post(version_url(strategy, 1, "approve"))
    response = api_client.post(version_url(strategy, 1, "approve"))
    assert (response.status_code, response.json()["code"]) == (409, "strategy.already_approved")


def test_approving_a_version_that_does_not_exist_is_not_found(api_client, risk_manager, strategy, version):
    api_client.force_authenticate(risk_manager)
    assert api_client.post(version_url(strategy, 2, "approve")).status_code == 404
