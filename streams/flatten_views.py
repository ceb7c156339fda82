"""The live pages' Flatten buttons: a position row (Positions page) or an account row (Desk).

The button asks why (htmx's prompt, sent as HX-Prompt; a form may post ``reason``) and carries
the ``nonce`` of the row as it was rendered: the flatten's id is derived from the user, the row
and that nonce, so a double click enters one order, while the row the answer swaps in carries a
new nonce for a later, deliberate flatten. Each row offers a market flatten and one at the quote
(``order_type`` ``LMT``: a limit at the bid to sell, the ask to buy, as the admin and the API do);
any other type is the service's refusal.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from accounts.models import BrokerAccount
from accounts.selectors import accounts_for_user
from orders.models import Position
from orders.services import account_flatten, position_flatten
from orders.services.flatten import FLATTEN_NAMESPACE
from streams import rows
from streams.views import VIA, _refused, _row_response
from tradeconsole.exceptions import ApplicationError


def _flatten_input(request: HttpRequest, scope: str) -> dict:
    reason = (request.POST.get("reason") or request.headers.get("HX-Prompt") or "").strip()[:255]
    nonce = request.POST.get("nonce") or uuid.uuid4().hex
    flatten_id = uuid.uuid5(FLATTEN_NAMESPACE, f"live:{request.user.pk}:{scope}:{nonce}")
    order_type = (request.POST.get("order_type") or "MKT").strip().upper()[:8]
    return {"reason": reason, "order_type": order_type, "flatten_id": flatten_id}


@require_POST
@login_required
def position_flatten_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Flatten one position of the user's accounts; answer with its re-rendered row."""
    position = get_object_or_404(
        Position.objects.select_related("account", "instrument").filter(account__in=accounts_for_user(request.user)),
        pk=pk,
    )
    try:
        position_flatten(position=position, actor=request.user, via=VIA, **_flatten_input(request, f"position:{pk}"))
    except ApplicationError as error:
        return _refused(error)
    position = Position.objects.select_related("account", "instrument").get(pk=pk)
    return _row_response(request, rows.position_row(position))


@require_POST
@login_required
def account_flatten_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Flatten every open position of one of the user's accounts; answer with its re-rendered row."""
    account = get_object_or_404(accounts_for_user(request.user), pk=pk)
    try:
        outcome = account_flatten(
            account=account, actor=request.user, via=VIA, **_flatten_input(request, f"account:{pk}")
        )
    except ApplicationError as error:
        return _refused(error)
    response = _row_response(request, rows.account_row(BrokerAccount.objects.get(pk=account.pk)))
    if outcome.refused:
        # The row is swapped all the same (its open orders changed); the refusals are named in a header.
        response["X-Flatten-Refused"] = "; ".join(f"{r['symbol']}: {r['code']}" for r in outcome.refused)
    return response
