"""The strategy versions admin: read-only versions, "Save a new version from JSON" and the Approve action."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from strategies.models import StrategyVersion
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory, template_graph

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:strategies_strategyversion_add")
LIST_URL = reverse("admin:strategies_strategyversion_changelist")


@pytest.fixture
def strategy(account):
    strategy = StrategyFactory(name="EMA crossover")
    strategy.accounts.add(account)
    return strategy


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_trader_saves_a_pasted_graph_as_the_next_version(client, trader, strategy):
    client.force_login(trader)
    graph = template_graph("ema_crossover")

    response = client.post(ADD_URL, {"strategy": strategy.pk, "graph": json.dumps(graph, indent=2)})

    version = StrategyVersion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:strategies_strategyversion_change", args=[version.pk])
    assert (version.number, version.graph, version.author) == (1, graph, trader)
    assert AuditLog.objects.get().via == "admin"


def test_an_uploaded_json_file_is_saved_instead_of_the_text(client, trader, strategy):
    client.force_login(trader)
    upload = SimpleUploadedFile("rsi.json", json.dumps(template_graph("rsi_mean_reversion")).encode())

    client.post(ADD_URL, {"strategy": strategy.pk, "graph": "", "graph_file": upload})

    assert StrategyVersion.objects.get().graph == template_graph("rsi_mean_reversion")


def test_the_form_lists_every_compile_problem_and_saves_nothing(client, trader, strategy):
    client.force_login(trader)
    graph = template_graph("ema_crossover")
    graph["nodes"][1]["data"]["params"]["period"] = 0
    graph["nodes"].append({"id": "mystery", "type": "astrology", "position": {"x": 0, "y": 0}})

    response = client.post(ADD_URL, {"strategy": strategy.pk, "graph": json.dumps(graph)})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any("nothing was saved" in error for error in errors["__all__"])
    assert any(e.startswith("node.bad_parameter:") and "(node fast, port period)" in e for e in errors["graph"])
    assert any(e.startswith("node.unknown_type:") and "(node mystery)" in e for e in errors["graph"])
    page = response.content.decode()
    assert "node.bad_parameter" in page and "node.unknown_type" in page
    assert (StrategyVersion.objects.count(), AuditLog.objects.count()) == (0, 0)


def test_text_that_is_not_json_is_shown_as_a_problem(client, trader, strategy):
    client.force_login(trader)
    response = client.post(ADD_URL, {"strategy": strategy.pk, "graph": "{nodes: oops"})
    assert any(e.startswith("graph.not_json:") for e in response.context["adminform"].form.errors["graph"])
    assert StrategyVersion.objects.count() == 0


def test_an_empty_form_asks_for_a_graph(client, trader, strategy):
    client.force_login(trader)
    response = client.post(ADD_URL, {"strategy": strategy.pk, "graph": "  "})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["__all__"] == ["Paste the graph's JSON or choose a .json file."]


def test_a_viewer_cannot_open_the_form(client, viewer, strategy):
    client.force_login(viewer)
    assert client.get(ADD_URL).status_code == 403


def test_versions_are_read_only_and_listed_on_the_strategy_page(client, trader, strategy):
    version = strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    client.force_login(trader)
    change_url = reverse("admin:strategies_strategyversion_change", args=[version.pk])

    page = client.get(reverse("admin:strategies_strategy_change", args=[strategy.pk])).content.decode()
    assert change_url in page and version.graph_hash[:12] in page and "Save a new version from JSON" in page

    response = client.get(change_url)
    assert response.status_code == 200 and not response.context["has_change_permission"]
    warmup = version.warmup
    assert client.post(change_url, {"warmup": warmup + 1, "graph": "{}"}).status_code == 403
    version.refresh_from_db()
    assert (version.graph, version.warmup) == (template_graph("ema_crossover"), warmup)


def test_the_approve_action_goes_through_the_service_and_shows_refusals(client, trader, risk_manager, strategy):
    theirs = strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    own = strategy_version_save(actor=risk_manager, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    client.force_login(risk_manager)

    response = client.post(LIST_URL, {"action": "approve_versions", "_selected_action": [theirs.pk, own.pk]})

    theirs.refresh_from_db()
    own.refresh_from_db()
    assert (theirs.approved_by, own.approved_by) == (risk_manager, None)
    messages = texts(response)
    assert any("(strategy.approve_own_version)" in text and str(own) in text for text in messages)
    assert "1 version(s) approved for broker sessions." in messages
    assert AuditLog.objects.filter(action="strategy_version.approve", via="admin").count() == 1


def test_a_trader_is_not_offered_the_approve_action(client, trader, strategy, account):
    author = UserFactory(username="author", roles=[Role.TRADER], accounts=[account])
    version = strategy_version_save(actor=author, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    client.force_login(trader)
    assert "approve_versions" not in client.get(LIST_URL).content.decode()
    client.post(LIST_URL, {"action": "approve_versions", "_selected_action": [version.pk]})
    version.refresh_from_db()
    assert not version.is_approved


def test_the_versions_list_names_only_strategies_the_user_sees(client, trader, strategy, other_account):
    foreign = StrategyFactory(name="Other desk's secret")
    foreign.accounts.add(other_account)
    for target in (strategy, foreign):
        strategy_version_save(actor=None, strategy=target, graph=template_graph("ema_crossover"), via="t")
    client.force_login(trader)
    page = client.get(LIST_URL).content.decode()
    assert "EMA crossover" in page and "Other desk&#x27;s secret" not in page and "Other desk's secret" not in page
