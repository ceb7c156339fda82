"""The strategy editor page: who sees what, the catalogue and templates it carries, the version it opens."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from strategies.engine import catalogue
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory, template_graph
from streams.editor_page import strategy_templates

pytestmark = pytest.mark.django_db
URL = reverse("streams:editor")


@pytest.fixture
def strategy(account):
    strategy = StrategyFactory(name="EMA crossover")
    strategy.accounts.add(account)
    return strategy


def _script(response, element_id: str):
    """The JSON the page embeds with ``json_script`` under ``element_id``."""
    html = response.content.decode()
    opening = f'<script id="{element_id}" type="application/json">'
    start = html.index(opening) + len(opening)
    return json.loads(html[start : html.index("</script>", start)])


def test_an_anonymous_visitor_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_trader_gets_the_palette_from_the_catalogue_and_the_save_control(client, trader, strategy):
    client.force_login(trader)
    response = client.get(URL)
    assert response.status_code == 200
    assert _script(response, "editor-catalogue") == catalogue()
    assert set(_script(response, "editor-templates")) == {"ema_crossover", "rsi_mean_reversion", "bollinger_breakout"}
    html = response.content.decode()
    assert 'id="editor-save"' in html and 'id="editor-palette-list"' in html
    assert 'data-can-edit="true"' in html
    assert 'id="editor-backtest"' in html and "strategies/backtest.js" in html
    assert f'data-versions-url="/api/v1/strategies/{strategy.pk}/versions/"' in html
    assert _script(response, "editor-graph") == {"nodes": [], "edges": []}


def test_a_viewer_sees_the_graph_read_only_without_palette_or_save(client, viewer, trader, strategy):
    strategy_version_save(actor=trader, strategy=strategy, graph=template_graph("ema_crossover"), via="test")
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-can-edit="false"' in html and "read-only" in html
    controls = ("editor-save", "editor-palette-list", "editor-import-file", "editor-json-load", "editor-template")
    for control in (*controls, "editor-backtest"):
        assert f'id="{control}"' not in html
    assert _script(response, "editor-graph") == template_graph("ema_crossover")


def test_the_page_opens_the_newest_version_or_the_one_asked_for(client, trader, strategy):
    first = template_graph("ema_crossover")
    second = template_graph("ema_crossover")
    second["nodes"][1]["data"]["params"]["period"] = 9
    for graph in (first, second):
        strategy_version_save(actor=trader, strategy=strategy, graph=graph, via="test")
    client.force_login(trader)
    assert _script(client.get(URL), "editor-graph") == second
    response = client.get(URL, {"strategy": strategy.pk, "version": 1})
    assert _script(response, "editor-graph") == first
    version = strategy.versions.get(number=1)
    assert f'data-version="1" data-version-id="{version.pk}"' in response.content.decode()


def test_a_strategy_on_no_account_of_the_user_or_a_missing_version_is_answered_404(
    client, trader, strategy, other_account
):
    hidden = StrategyFactory(name="Someone else's")
    hidden.accounts.add(other_account)
    client.force_login(trader)
    response = client.get(URL, {"strategy": hidden.pk})
    assert response.status_code == 404
    assert "strategy.not_found" in response.content.decode()
    assert "Someone else" not in response.content.decode()
    assert "No strategy trades one of your accounts" not in response.content.decode()
    response = client.get(URL, {"strategy": strategy.pk, "version": 7})
    assert response.status_code == 404
    assert "strategy_version.not_found" in response.content.decode()


def test_the_templates_are_the_engines_files():
    assert strategy_templates()["ema_crossover"] == template_graph("ema_crossover")


def test_the_live_nav_links_the_editor(client, viewer):
    client.force_login(viewer)
    html = client.get(reverse("streams:desk")).content.decode()
    assert f'href="{URL}"' in html


def test_a_user_whose_accounts_trade_no_strategy_is_told_so(client, viewer, other_account):
    StrategyFactory(name="Elsewhere").accounts.add(other_account)
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No strategy trades one of your accounts" in html and 'id="strategy-editor"' not in html
