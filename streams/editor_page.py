"""The strategy editor page: a strategy's graph drawn and wired in the browser (static/strategies/).

The page is a snapshot: the engine's node catalogue, its templates, the strategy's versions and
the graph of the version asked for (the newest by default). Every write goes through the versions
API (``POST /api/v1/strategies/<id>/versions/``), where the compiler decides and the service
saves; this view writes nothing. Whoever may save versions (a Trader) gets the palette and the
controls; anyone else sees the graph read-only. Whoever may request backtests gets a form that
posts one for the version shown (``POST /api/v1/backtests/``) and draws its equity curve.
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from marketdata import resolutions
from strategies import engine
from strategies.engine import catalogue
from strategies.models import Backtest
from strategies.selectors import strategy_list, strategy_version_list
from strategies.services.backtests import REQUEST_PERM
from streams.views import live_context

# Saving a version is the one write of the page (the API checks it again).
SAVE_PERMISSION = "strategies.add_strategyversion"
TEMPLATES_DIR = Path(engine.__file__).parent / "templates"


@functools.cache
def strategy_templates() -> dict[str, dict]:
    """Return the engine's template graphs by name (``ema_crossover``…), read once per process."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(TEMPLATES_DIR.glob("*.json"))}


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


@login_required
def editor(request: HttpRequest) -> HttpResponse:
    """The editor of ``?strategy=`` (the first strategy the user sees by default) at ``?version=`` (the newest).

    A strategy the user does not see, or a version it does not have, is answered 404 on the page.
    """
    strategies = list(strategy_list(user=request.user).order_by("name"))
    wanted = _number(request.GET.get("strategy"))
    strategy = next((s for s in strategies if s.pk == wanted), None) if wanted else next(iter(strategies), None)
    versions = list(strategy_version_list(user=request.user, strategy=strategy)) if strategy else []
    number = _number(request.GET.get("version"))
    version = next((v for v in versions if v.number == number), None) if number else next(iter(versions), None)
    problem = None
    if wanted and strategy is None:
        problem = "No strategy with this id trades one of your accounts (strategy.not_found)."
    elif number and version is None:
        problem = f"{strategy} has no version {number} (strategy_version.not_found)."
    context = live_context(request, "editor", account_ids=set())
    today = timezone.localdate()
    context.update(
        strategies=strategies,
        strategy=strategy,
        versions=versions,
        version=version,
        problem=problem,
        can_edit=request.user.has_perm(SAVE_PERMISSION),
        can_backtest=request.user.has_perm(REQUEST_PERM),
        resolutions=resolutions.ALL,
        fee_models=Backtest.FeeModel.choices,
        backtest_end=today,
        backtest_start=today - timedelta(days=30),
        editor_catalogue=catalogue(),
        editor_templates=strategy_templates(),
        editor_graph=version.graph if version else {"nodes": [], "edges": []},
    )
    return render(request, "streams/editor.html", context, status=404 if problem else 200)
