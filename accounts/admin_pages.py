"""An admin add page that shows a form of the admin's own (an entry or import form, not the model's form)."""

from __future__ import annotations

from django import forms
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse


def form_add_page(
    model_admin, request: HttpRequest, form: forms.Form, *, title: str, form_url: str = "", extra_context=None
) -> HttpResponse:
    """Render ``form`` (all its fields in one fieldset, its errors) on ``model_admin``'s add page,
    with the admin's own context and only the plain Save button; ``extra_context`` is added last."""
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
        **(extra_context or {}),
    }
    return model_admin.render_change_form(request, context, add=True, change=False, form_url=form_url)
