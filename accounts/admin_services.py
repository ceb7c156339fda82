"""Admin plumbing that sends the add and change forms through services instead of ``Model.save()``.

A ``ModelAdmin`` mixing in ``ServiceSaveMixin`` implements ``service_create`` and
``service_update``; the admin keeps its forms, validation, messages and history, but the
row, its many-to-many fields and its audit row are written by the service, in the view's
transaction. Membership inlines go through ``save_membership_formset``.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponseRedirect

from accounts import services
from accounts.models import AccountMembership
from tradeconsole.exceptions import ApplicationError

VIA = "admin"


def refusal_text(exc: ApplicationError) -> str:
    """Render a domain refusal for a person, keeping its stable code visible for support."""
    return f"{exc.message} ({exc.code})"


def each_through_service(model_admin, request: HttpRequest, objects, call, *, refusal=refusal_text) -> int:
    """Call ``call(obj)`` on each of ``objects`` (an admin action's selection), return how many it took.

    Each domain refusal is shown to the user as an error naming the object (``refusal`` renders
    it) and the loop goes on with the next object; any other exception propagates.
    """
    done = 0
    for obj in objects:
        try:
            call(obj)
        except ApplicationError as exc:
            model_admin.message_user(request, f"{obj}: {refusal(exc)}", messages.ERROR)
        else:
            done += 1
    return done


class RefusalAsMessageMixin:
    """Show a service's refusal raised while saving as an error message instead of a server error.

    Django runs the add and change views in one transaction, so the refusal has already rolled
    back everything the view wrote when it reaches here; the user lands on the form again.
    """

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, refusal_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ServiceSaveMixin(RefusalAsMessageMixin):
    """Write the admin form's object through ``service_create`` / ``service_update``.

    Both receive the validated form; they return the saved object. The form's many-to-many
    fields are the service's to save (``save_related`` skips ``form.save_m2m``), inlines
    still go through ``save_formset``.
    """

    def service_create(self, request: HttpRequest, form) -> Model:
        raise NotImplementedError

    def service_update(self, request: HttpRequest, obj: Model, form) -> Model:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Model, form, change: bool) -> None:
        saved = self.service_update(request, obj, form) if change else self.service_create(request, form)
        # The admin goes on with ``obj`` (history entry, inlines' foreign key, redirect): make it
        # the stored row, including values the service normalised.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


def save_membership_formset(request: HttpRequest, formset) -> None:
    """Apply a membership inline's additions, changes and removals through the membership services.

    A row whose user (or account) was changed is a removal and an addition: each is audited.
    Fills the formset's ``new_objects`` / ``changed_objects`` / ``deleted_objects`` so the
    admin's history message stays right.
    """
    formset.save(commit=False)
    for membership in formset.deleted_objects:
        services.membership_remove(membership=membership, actor=request.user, via=VIA)
    for membership, _changed in formset.changed_objects:
        stored = AccountMembership.objects.select_related("account").get(pk=membership.pk)
        services.membership_remove(membership=stored, actor=request.user, via=VIA)
        added = services.membership_add(account=membership.account, user=membership.user, actor=request.user, via=VIA)
        membership.pk = added.pk
    for membership in formset.new_objects:
        added = services.membership_add(account=membership.account, user=membership.user, actor=request.user, via=VIA)
        membership.pk, membership.created_at = added.pk, added.created_at


def form_changes(form, names) -> dict:
    """Return the cleaned values of the fields among ``names`` the user changed on ``form``."""
    return {name: form.cleaned_data[name] for name in form.changed_data if name in names}
