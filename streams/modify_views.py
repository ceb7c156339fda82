"""The live blotter's Modify control: the form of one working order (a dialog), and its post.

GET answers the dialog, prefilled with what the order is asked to be; POST sends what changed through
``order_modify`` and answers the re-rendered row (its "modify pending" badge stays until the broker
answers), or a refusal as problem+json with its code, as the other live controls do.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.services import require_actor
from orders.exceptions import OrderNotModifiable, OrderTifNotModifiable
from orders.modify_input import MODIFY_TIF_CHOICES, modify_changes, modify_fields, modify_initial, modify_offered
from orders.selectors import order_get
from orders.services import order_modify
from orders.transitions import MODIFIABLE_STATUSES
from streams import rows
from streams.views import VIA, _refused, _row_response
from tradeconsole.exceptions import ApplicationError

PERMISSION = "orders.change_order"


@require_http_methods(["GET", "POST"])
@login_required
def order_modify_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the Modify dialog of one order of the user's accounts (GET), or modify it (POST)."""
    try:
        order = order_get(user=request.user, pk=pk)
        # Asked before anything else: a Viewer is told they may not, whatever they posted.
        require_actor(request.user, account=order.account, perm=PERMISSION)
        if request.method == "GET":
            return _dialog(request, order)
        order = order_modify(order=order, actor=request.user, via=VIA, **modify_changes(order, request.POST))
    except ApplicationError as error:
        return _refused(error)
    return _row_response(request, rows.order_row_by_id(order.pk))


def _dialog(request: HttpRequest, order) -> HttpResponse:
    """The dialog of ``order``'s Modify form.

    :raises OrderNotModifiable: the order is final, its cancel is requested, or its outcome is unknown.
    :raises OrderTifNotModifiable: an IOC order (no form offers a TIF it could keep).
    """
    if not modify_offered(order):
        # The service says the same on a post; a form is not offered for an order it would refuse.
        if order.status in MODIFIABLE_STATUSES:
            raise OrderTifNotModifiable("An IOC order is not modified: cancel it and enter a new one.", field="tif")
        raise OrderNotModifiable(f"The order is {order.get_status_display().lower()}; it cannot be modified.")
    row = rows.order_row(order)["ctx"]
    fields = modify_fields(order)
    context = {
        "order": order,
        "row": row,
        "initial": modify_initial(order),
        "takes_limit": "limit_price" in fields,
        "takes_stop": "stop_price" in fields,
        "tifs": MODIFY_TIF_CHOICES,
    }
    return render(request, "streams/modify_dialog.html", context)
