"""The admin's entry pages (an order, a bracket): an entry form shown on the order admin's add page,
with the duplicate guard's confirmation step."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.admin_pages import form_add_page
from orders.forms import EntryForm


def entry_page(
    model_admin, request: HttpRequest, form: EntryForm, *, title: str, form_url: str = "", extra_context=None
) -> HttpResponse:
    """Render ``form`` on the order admin's add page, with the confirmation step when it met a duplicate."""
    return form_add_page(
        model_admin,
        request,
        form,
        title=title,
        form_url=form_url,
        extra_context={**duplicate_context(form), **(extra_context or {})},
    )


def duplicate_context(form: EntryForm) -> dict:
    """What the duplicate guard's confirmation step shows (the earlier order, how many seconds ago it
    was entered), or nothing when ``form`` met no duplicate; the Market page's ticket shows it too."""
    if form.duplicate is None:
        return {}
    earlier = form.duplicate.earlier
    return {
        "duplicate": form.duplicate,
        "duplicate_seconds": int((timezone.now() - earlier.created_at).total_seconds()),
    }
