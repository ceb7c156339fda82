"""The admin's entry pages (an order, a bracket): an entry form shown on the order admin's add page,
with the duplicate guard's confirmation step."""

from __future__ import annotations

from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from orders.forms import EntryForm


def entry_page(
    model_admin, request: HttpRequest, form: EntryForm, *, title: str, form_url: str = "", extra_context=None
) -> HttpResponse:
    """Render ``form`` on the order admin's add page, with the confirmation step when it met a duplicate."""
    admin_form = helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}, model_admin=model_admin)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "adminform": admin_form,
        "object_id": None,
        "original": None,
        "is_popup": False,
        "to_field": None,
        "media": model_admin.media + admin_form.media,
        "inline_admin_formsets": [],
        "errors": helpers.AdminErrorList(form, []),
        "preserved_filters": model_admin.get_preserved_filters(request),
        "show_save_and_add_another": False,
        "show_save_and_continue": False,
        **duplicate_context(form),
        **(extra_context or {}),
    }
    return model_admin.render_change_form(request, context, add=True, change=False, form_url=form_url)


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
