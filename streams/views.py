"""The live pages (snapshot plus cursor) and their controls (POST, CSRF, one service call each)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from accounts.exceptions import HaltReasonRequired
from accounts.models import Alert, BrokerAccount, KillSwitch, ProcessHeartbeat
from accounts.selectors import accounts_for_user
from execution_worker import messages as m
from marketdata.models import WatchlistEntry
from orders.models import PnLPoint
from orders.selectors import order_get, position_list
from strategies.models import TradingSession
from streams import keys, live, rows
from streams.market import quote_fields
from streams.pages import PAGES, groups_for, market_symbols
from streams.redis_client import get_redis
from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE, ApplicationError, problem_body

VIA = "dashboard"


def _flags(user) -> dict:
    return {
        "can_cancel": user.has_perm("orders.change_order"),
        "can_halt": user.has_perm("accounts.change_brokeraccount"),
        "can_control_sessions": user.has_perm("strategies.change_tradingsession"),
        "can_flatten": user.has_perm("orders.add_order"),
        "can_enter_orders": user.has_perm("orders.add_order"),
    }


def live_context(request: HttpRequest, page_name: str, *, account_ids: set[int], symbols=(), query=None) -> dict:
    """The context every live page shares: the cursor of the page's groups, read *before* the snapshot
    query, and how to connect."""
    page = PAGES[page_name]
    groups = groups_for(page, user_id=request.user.pk, account_ids=account_ids, symbols=list(symbols))
    client = get_redis()
    ws_query = {"page": page_name, **(query or {})}
    return {
        "page": page,
        "pages": PAGES.values(),
        "title": page.title,
        "live_epoch": live.epoch(client),
        "live_cursor": json.dumps(live.cursor(groups, client)),
        "live_ws": "/ws/live/?" + urlencode(ws_query),
        **_flags(request.user),
        **admin.site.each_context(request),
    }


def _render(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    return render(request, template, context)


@login_required
def desk(request: HttpRequest) -> HttpResponse:
    """Gateway state, every account with its values and halt control, latest alerts, processes."""
    accounts = list(accounts_for_user(request.user))
    context = live_context(request, "desk", account_ids={a.pk for a in accounts})
    beats = list(ProcessHeartbeat.objects.all())
    execution = next((b for b in beats if b.name == "execution"), None)
    alerts = (
        Alert.objects.select_related("account")
        .exclude(status=Alert.Status.RESOLVED)
        .filter(models_q_account(accounts))[:10]
    )
    context.update(
        gateway=rows.gateway_row(execution),
        kill_switch=rows.kill_switch_row(KillSwitch.objects.select_related("changed_by").filter(pk=1).first()),
        account_rows=[rows.account_row(a) for a in accounts],
        alert_rows=[rows.alert_row(a) for a in alerts],
        process_rows=[rows.process_row(b) for b in beats],
    )
    return _render(request, "streams/desk.html", context)


def models_q_account(accounts):
    from django.db.models import Q

    return Q(account__isnull=True) | Q(account__in=accounts)


@login_required
def positions(request: HttpRequest) -> HttpResponse:
    """Positions with last price and PnL, and each account's intraday PnL curve."""
    accounts = list(accounts_for_user(request.user))
    context = live_context(request, "positions", account_ids={a.pk for a in accounts})
    from django.utils import timezone

    day_start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    curves = {}
    for point in PnLPoint.objects.filter(account__in=accounts, at__gte=day_start).order_by("at"):
        curve = curves.setdefault(point.account_id, {"t": [], "pnl": []})
        curve["t"].append(int(point.at.timestamp()))
        curve["pnl"].append(float(point.total_pnl))
    context.update(
        position_rows=[rows.position_row(p) for p in position_list(user=request.user, include_flat=True)],
        chart_accounts=[{"pk": a.pk, "code": a.code} for a in accounts],
        curves=curves,
    )
    return _render(request, "streams/positions.html", context)


@login_required
def sessions(request: HttpRequest) -> HttpResponse:
    """Strategy sessions with status, PnL, drawdown, trades and their controls."""
    accounts = list(accounts_for_user(request.user))
    context = live_context(request, "sessions", account_ids={a.pk for a in accounts})
    found = TradingSession.objects.select_related("strategy", "account", "instrument", "version").filter(
        account__in=accounts
    )[:200]
    context.update(session_rows=[rows.session_row(s) for s in found])
    return _render(request, "streams/sessions.html", context)


@login_required
def market(request: HttpRequest) -> HttpResponse:
    """Live quotes of the instruments the user's accounts hold or trade and of the user's watchlist
    (from ``{prefix}:md:*``), with the watchlist's search, add and remove (static/marketdata/watchlist.js)."""
    account_ids = set(accounts_for_user(request.user).values_list("pk", flat=True))
    symbols = market_symbols(account_ids, user_id=request.user.pk)
    context = live_context(request, "market", account_ids=account_ids, symbols=symbols)
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        pipe.xrevrange(keys.market_data_stream(symbol), count=1)
    quote_rows = []
    for symbol, latest in zip(symbols, pipe.execute() if symbols else [], strict=True):
        fields, at = {}, None
        if latest:
            entry_id, raw = latest[0]
            fields = _quote_fields(raw)
            at = int(raw.get("ts") or int(entry_id.split("-")[0]) * 1_000_000)
        quote_rows.append(rows.quote_row(symbol, fields, at))
    watchlist = WatchlistEntry.objects.filter(user=request.user).select_related("instrument")
    context.update(quote_rows=quote_rows, watchlist=[entry.instrument.symbol for entry in watchlist])
    return _render(request, "streams/market.html", context)


def _quote_fields(raw: dict) -> dict:
    """Quote fields of the newest entry of one md stream (a 5-field ``md.tick`` entry)."""
    try:
        message = m.decode(raw)
    except m.MessageError:
        return {}
    return quote_fields(message.data()) if isinstance(message, m.MarketData) else {}


@login_required
def system(request: HttpRequest) -> HttpResponse:
    """Processes and heartbeats, stream lengths and consumer lag, dead letters, order-path latency."""
    context = live_context(request, "system", account_ids=set())
    beats = list(ProcessHeartbeat.objects.all())
    execution = next((b for b in beats if b.name == "execution"), None)
    context.update(
        gateway=rows.gateway_row(execution),
        process_rows=[rows.process_row(b) for b in beats],
        latency=(execution.data or {}) if execution else {},
        system=rows.system_row(),
    )
    return _render(request, "streams/system.html", context)


# --- controls: POST with CSRF, one service each, answer with the re-rendered row -------------------


def _refused(error: ApplicationError) -> JsonResponse:
    # The page shows the problem's detail and code (live.js); nothing is swapped.
    return JsonResponse(problem_body(error), status=error.http_status, content_type=PROBLEM_CONTENT_TYPE)


def _row_response(request: HttpRequest, row: dict) -> HttpResponse:
    # The other open pages learn of the change from the service's announcement (streams.publish).
    html = render_to_string(f"streams/rows/{row['kind']}.html", {"row": row["ctx"], **_flags(request.user)})
    return HttpResponse(html)


@require_POST
@login_required
def order_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the broker to cancel one order of the user's accounts."""
    from orders.services import order_cancel

    try:
        order = order_get(user=request.user, pk=pk)
        order = order_cancel(order=order, actor=request.user, reason="cancelled from the blotter", via=VIA)
    except ApplicationError as error:
        return _refused(error)
    row = rows.order_row_by_id(order.pk)
    return _row_response(request, row)


@require_POST
@login_required
def account_halt_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Halt or resume trading on one account of the user's."""
    from accounts.services import account_halt, account_resume, require_actor

    account = get_object_or_404(accounts_for_user(request.user), pk=pk)
    try:
        if action == "halt":
            # The Halt button asks why (htmx sends the answer in HX-Prompt); a form may post it.
            reason = (request.POST.get("reason") or request.headers.get("HX-Prompt") or "").strip()[:255]
            if not reason:
                # Someone who may not halt is told that, not asked for a reason.
                require_actor(request.user, account=account, perm="accounts.change_brokeraccount")
                raise HaltReasonRequired(field="reason")
            account = account_halt(account=account, actor=request.user, reason=reason, via=VIA)
        else:
            account = account_resume(account=account, actor=request.user, via=VIA)
    except ApplicationError as error:
        return _refused(error)
    return _row_response(request, rows.account_row(BrokerAccount.objects.get(pk=account.pk)))


@require_POST
@login_required
def session_control_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Start, pause, resume or stop one trading session on the user's accounts.

    Pause and stop take the person's ``reason`` (the buttons ask in HX-Prompt; a form may post
    it); stop takes ``flatten`` ("1": close the session's position as it stops).
    """
    from strategies import services

    session = get_object_or_404(
        TradingSession.objects.select_related("strategy", "account").filter(
            account__in=accounts_for_user(request.user)
        ),
        pk=pk,
    )
    reason = request.POST.get("reason") or request.headers.get("HX-Prompt") or ""
    try:
        if action == "start":
            services.trading_session_start(session=session, actor=request.user, via=VIA)
        elif action == "pause":
            services.trading_session_pause(session=session, actor=request.user, via=VIA, reason=reason)
        elif action == "resume":
            services.trading_session_resume(session=session, actor=request.user, via=VIA)
        else:
            flatten = request.POST.get("flatten") in ("1", "on", "true")
            services.trading_session_stop(session=session, actor=request.user, via=VIA, reason=reason, flatten=flatten)
    except ApplicationError as error:
        return _refused(error)
    session = TradingSession.objects.select_related("strategy", "account", "instrument", "version").get(pk=pk)
    return _row_response(request, rows.session_row(session))
