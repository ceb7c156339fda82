"""The Baskets live page: lines typed, pasted or uploaded as CSV, a preview with each line's check, one
confirmation that sends them as one basket, then the basket's orders kept live with its progress
and a Cancel basket button (``orders.services.baskets``).

The preview is the desk's own answer (``basket_check``: the path of sending, rolled back); the
confirmation carries the lines as shown and the basket's id made with the preview, so a
confirmation posted twice sends one basket. A line refused at sending (the book moved since
the preview) shows the preview again with its code. Previews (one shown again after a refused
send too) count in the API's basket preview throttle: over it, the page answers 429 ``throttled``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.api.throttling import BasketPreviewThrottle, PageThrottled, page_throttle
from accounts.selectors import accounts_for_user
from orders.basket_csv import MAX_BYTES, ParsedBasket, basket_csv_read
from orders.exceptions_baskets import BasketLineRefused
from orders.models import OrderSource
from orders.selectors_baskets import basket_get, basket_list, basket_orders, basket_progress
from orders.services import basket_cancel, basket_check, basket_submit
from orders.transitions import OPEN_STATUSES
from streams import rows
from streams.views import VIA, _render, live_context
from tradeconsole.exceptions import ApplicationError

RECENT_BASKETS = 20
EXAMPLE = "symbol,side,quantity,order_type,limit_price\nAAPL,BUY,10,LMT,100.00\n"


def _form_values(request: HttpRequest) -> dict:
    """What the form posted: the account, the name, the CSV text (an uploaded file replaces it)."""
    upload = request.FILES.get("file")
    text = request.POST.get("lines", "")
    if upload is not None:
        data = upload.read(MAX_BYTES + 1)
        try:
            # Over the limit stays bytes for basket_csv_read to refuse: decoded, a BOM (3 bytes, no
            # character) would bring a file cut at the limit under it in characters.
            text = data.decode("utf-8-sig") if len(data) <= MAX_BYTES else data
        except UnicodeDecodeError:
            text = data
    return {
        "account": request.POST.get("account", ""),
        "name": request.POST.get("name", "").strip()[:100],
        "text": text,
        "allow_duplicate": request.POST.get("allow_duplicate") in ("1", "on"),
        "client_basket_id": request.POST.get("client_basket_id") or str(uuid.uuid4()),
    }


def _preview_rows(parsed: ParsedBasket, check) -> list[dict]:
    """One row a line of the CSV: its values and the desk's answer, or why it could not be read."""
    found = [
        {
            "row": error["row"],
            "refused": True,
            "code": error["code"],
            "detail": error["detail"],
            "values": error.get("values", {}),
        }
        for error in parsed.errors
    ]
    for line in check.lines if check else []:
        found.append(
            {
                "row": parsed.rows[line.number - 1],
                "refused": not line.ok,
                "code": line.code,
                "detail": line.detail,
                "values": line.values,
                "notional": line.notional,
                "status": line.status,
            }
        )
    return sorted(found, key=lambda row: row["row"])


def _page(request: HttpRequest, *, form: dict | None = None, preview: dict | None = None) -> HttpResponse:
    accounts = list(accounts_for_user(request.user))
    context = live_context(request, "baskets", account_ids={a.pk for a in accounts})
    recent = list(basket_list(user=request.user)[:RECENT_BASKETS])
    progress = basket_progress(recent)
    context.update(
        accounts=accounts,
        form=form or {"text": EXAMPLE, "account": str(accounts[0].pk) if accounts else ""},
        preview=preview,
        baskets=[{"basket": b, "progress": progress[b.pk]} for b in recent],
    )
    return _render(request, "streams/baskets.html", context)


def _account(request: HttpRequest, pk: str):
    # isascii too: str.isdigit takes "²", which int() refuses.
    return accounts_for_user(request.user).filter(pk=int(pk)).first() if pk.isascii() and pk.isdigit() else None


def _previewed(request: HttpRequest, form: dict, *, refusal: ApplicationError | None = None) -> HttpResponse:
    """The page with the preview of ``form``'s lines (and the refusal that brought it back, if any)."""
    account = _account(request, form["account"])
    parsed = basket_csv_read(form["text"])
    if isinstance(form["text"], bytes):
        form["text"] = ""
    check, problem = None, refusal
    if account is None:
        problem = problem or ApplicationError("Choose one of your accounts.", field="account")
    elif parsed.lines and (throttled := page_throttle(BasketPreviewThrottle(), request, "basket previews")):
        # The API's preview limit, in the same count: a check holds the account's lock.
        problem = problem or throttled
    elif parsed.lines:
        try:
            check = basket_check(
                actor=request.user,
                account=account,
                lines=parsed.lines,
                source=OrderSource.ADMIN,
                confirm_duplicate=form["allow_duplicate"],
            )
        except ApplicationError as error:
            problem = error
    preview = {
        "rows": _preview_rows(parsed, check),
        "ok": bool(check and check.ok and parsed.ok and problem is None),
        "notional": check.notional if check else Decimal("0"),
        "count": len(parsed.lines),
        "problem": problem,
    }
    response = _page(request, form=form, preview=preview)
    if isinstance(problem, PageThrottled):
        response.status_code = 429
        response["Retry-After"] = str(problem.retry_after)
    return response


@login_required
def baskets(request: HttpRequest) -> HttpResponse:
    """The basket form (GET), or the preview of the lines posted (POST: the form's Preview)."""
    if request.method != "POST":
        return _page(request)
    return _previewed(request, _form_values(request))


@require_POST
@login_required
def basket_send_view(request: HttpRequest) -> HttpResponse:
    """Send the previewed lines as one basket; on to its page, or back to the preview with the refusal."""
    form = _form_values(request)
    account = _account(request, form["account"])
    parsed = basket_csv_read(form["text"])
    if account is None or not parsed.ok:
        return _previewed(request, form)
    try:
        basket = basket_submit(
            actor=request.user,
            account=account,
            lines=parsed.lines,
            name=form["name"],
            client_basket_id=form["client_basket_id"],
            source=OrderSource.ADMIN,
            confirm_duplicate=form["allow_duplicate"],
            via=VIA,
        )
    except BasketLineRefused as refusal:
        return _previewed(request, form, refusal=refusal)
    except ApplicationError as error:
        return _previewed(request, form, refusal=error)
    return redirect(reverse("streams:basket", kwargs={"pk": basket.pk}))


@login_required
def basket(request: HttpRequest, pk: int) -> HttpResponse:
    """One basket: its orders (their rows kept live), its progress and the Cancel basket button."""
    found = basket_get(user=request.user, pk=pk)
    context = live_context(request, "baskets", account_ids={found.account_id})
    orders = list(basket_orders(found))
    context.update(
        basket=found,
        progress=basket_progress([found])[found.pk],
        order_rows=[rows.order_row(order) for order in orders],
        open_statuses=" ".join(sorted(OPEN_STATUSES)),
        title=f"Basket {found.name or found.pk}",
    )
    return _render(request, "streams/basket.html", context)


@require_POST
@login_required
def basket_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel every working order of one basket of the user's accounts, with the reason posted."""
    found = basket_get(user=request.user, pk=pk)
    try:
        outcome = basket_cancel(actor=request.user, basket=found, reason=request.POST.get("reason", ""), via=VIA)
    except ApplicationError as error:
        messages.error(request, f"{error.message} ({error.code})")
    else:
        messages.success(request, f"{len(outcome.cancelled)} order(s) of the basket cancelled.")
        for refused in outcome.refused:
            messages.error(request, f"{refused['detail']} ({refused['code']})")
    return redirect(reverse("streams:basket", kwargs={"pk": found.pk}))
