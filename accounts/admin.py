"""The admin of users, broker accounts, the kill switch and the audit log (alerts: ``accounts.alert_admin``).

Accounts, memberships, halts, the kill switch and alerts change only through
``accounts.services`` (each change audited); the audit log, account values, the outbox and
heartbeats are read-only records.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts import services
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from accounts.admin_services import (
    VIA,
    RefusalAsMessageMixin,
    ServiceSaveMixin,
    form_changes,
    refusal_text,
    save_membership_formset,
)
from accounts.models import (
    AccountMembership,
    AccountValue,
    BrokerAccount,
    KillSwitch,
    OutboxMessage,
    ProcessHeartbeat,
    User,
)
from accounts.selectors import kill_switch_get
from tradeconsole.exceptions import ApplicationError


def may_halt_accounts(user) -> bool:
    """Whether ``user``'s role may halt and resume accounts (the permission ``account_halt`` checks)."""
    return user.has_perm("accounts.change_brokeraccount")


def may_use_kill_switch(user) -> bool:
    """Whether ``user``'s role may engage and release the kill switch (the permission the service checks)."""
    return user.has_perm("accounts.change_killswitch")


def ask_reason(model_admin, request, queryset, form, *, action: str, title: str, intro: str) -> TemplateResponse:
    """Render the step of an action that asks for a reason; posting it back runs the action again.

    The selected rows, the action name and ``apply`` travel as hidden fields, so the action sees
    the same queryset and a bound ``form`` the second time.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": model_admin.opts,
        "objects": queryset,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/action_with_reason.html", context)


# --- users -------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    """The accounts a user is a member of (on the user's page)."""

    model = AccountMembership
    extra = 0
    autocomplete_fields = ["account"]
    fields = ["account", "created_at"]
    readonly_fields = ["created_at"]
    verbose_name_plural = "account memberships"


class MemberInline(MembershipInline):
    """The members of an account (on the account's page)."""

    autocomplete_fields = ["user"]
    fields = ["user", "created_at"]
    verbose_name_plural = "members"


@admin.register(User)
class UserAdmin(RefusalAsMessageMixin, DjangoUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "roles", "is_staff", "is_active", "last_login"]
    list_filter = ["groups", "is_staff", "is_superuser", "is_active"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def roles(self, user: User) -> str:
        return ", ".join(group.name for group in user.groups.all()) or "—"

    def save_formset(self, request, form, formset, change):
        if formset.model is AccountMembership:
            save_membership_formset(request, formset)
        else:
            super().save_formset(request, form, formset, change)


# --- broker accounts ---------------------------------------------------------------------


class AccountValueInline(ReadOnlyInline):
    model = AccountValue
    fields = ["tag", "value", "currency", "updated_at"]
    ordering = ["tag"]
    verbose_name_plural = "values reported by the broker"


class HaltForm(forms.Form):
    """The reason for a halt, and whether the account's working orders are cancelled too."""

    reason = forms.CharField(max_length=255, help_text="Shown on the desk and kept in the audit log.")
    cancel_working = forms.BooleanField(required=False, label="Also cancel the working orders")


class KillSwitchForm(forms.Form):
    """The reason for engaging the kill switch, and whether working orders are cancelled."""

    reason = forms.CharField(max_length=255, help_text="Shown on the desk and kept in the audit log.")
    cancel_working = forms.BooleanField(required=False, initial=True, label="Also cancel every working order")


@admin.register(BrokerAccount)
class BrokerAccountAdmin(ServiceSaveMixin, AccountScopedAdmin):
    """Accounts, their members and their halts, every change through an audited service."""

    account_path = "pk"
    list_display = ["code", "name", "kind", "base_currency", "trading_enabled", "halted_reason", "halted_at"]
    list_filter = ["kind", "trading_enabled"]
    search_fields = ["code", "name"]
    list_select_related = ["halted_by"]
    readonly_fields = ["trading_enabled", "halted_reason", "halted_at", "halted_by", "created_at"]
    inlines = [MemberInline, AccountValueInline]
    actions = ["halt_trading", "resume_trading"]

    def get_readonly_fields(self, request, obj=None):
        # The code names the account at the broker; changing it would orphan its history.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "code"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        # Accounts of record are never deleted: orders, fills and the audit log point at them.
        return False

    def service_create(self, request: HttpRequest, form) -> BrokerAccount:
        data = form.cleaned_data
        return services.broker_account_create(
            actor=request.user,
            code=data["code"],
            name=data["name"],
            base_currency=data["base_currency"],
            kind=data["kind"],
            via=VIA,
        )

    def service_update(self, request: HttpRequest, obj: BrokerAccount, form) -> BrokerAccount:
        changes = form_changes(form, services.BROKER_ACCOUNT_EDITABLE)
        return services.broker_account_update(account=obj, actor=request.user, via=VIA, **changes)

    def save_formset(self, request, form, formset, change):
        if formset.model is AccountMembership:
            save_membership_formset(request, formset)
        else:
            super().save_formset(request, form, formset, change)

    def has_halt_permission(self, request: HttpRequest) -> bool:
        return may_halt_accounts(request.user)

    @admin.action(description="Halt trading on the selected accounts", permissions=["halt"])
    def halt_trading(self, request: HttpRequest, queryset: QuerySet[BrokerAccount]):
        form = HaltForm(request.POST if "apply" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            intro = "No new order will be accepted for these accounts until trading is resumed:"
            return ask_reason(self, request, queryset, form, action="halt_trading", title="Halt trading", intro=intro)
        for account in queryset:
            try:
                services.account_halt(
                    account=account,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    cancel_working=form.cleaned_data["cancel_working"],
                    via=VIA,
                )
            except ApplicationError as exc:
                self.message_user(request, f"{account}: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Trading on {account} is halted.", messages.SUCCESS)
        return None

    @admin.action(description="Resume trading on the selected accounts", permissions=["halt"])
    def resume_trading(self, request: HttpRequest, queryset: QuerySet[BrokerAccount]):
        for account in queryset:
            try:
                services.account_resume(account=account, actor=request.user, via=VIA)
            except ApplicationError as exc:
                self.message_user(request, f"{account}: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Trading on {account} is resumed.", messages.SUCCESS)


# --- the kill switch ---------------------------------------------------------------------


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    """One page: the switch's state and a form to engage or release it through the services.

    ``engage_form`` and ``engage`` may be extended by an app above this one (orders adds the
    "cancel and flatten" mode, ``orders.admin_flatten``): accounts imports no other app.
    """

    engage_form = KillSwitchForm

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Every member of the desk may see whether the desk is halted.
        return request.user.is_active and request.user.is_staff

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:accounts_killswitch_changelist"))

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_control = may_use_kill_switch(request.user)
        switch = kill_switch_get()
        form = self.engage_form()
        if request.method == "POST":
            if not may_control:
                raise PermissionDenied
            form = self._apply(request, switch)
            if form is None:
                return HttpResponseRedirect(request.path)
            switch = kill_switch_get()
        context = {
            **self.admin_site.each_context(request),
            "title": "Kill switch",
            "opts": self.opts,
            "switch": switch,
            "form": form,
            "may_control": may_control,
        }
        return TemplateResponse(request, "admin/accounts/killswitch/status.html", context)

    def _apply(self, request, switch: KillSwitch) -> KillSwitchForm | None:
        """Engage or release through the services; return the form to show again, or None when done."""
        if request.POST.get("operation") == "release":
            try:
                reason = request.POST.get("reason", "")
                services.kill_switch_release(actor=request.user, via=VIA, reason=reason)
            except ApplicationError as exc:
                self.message_user(request, refusal_text(exc), messages.ERROR)
            else:
                self.message_user(request, "The kill switch is released: new orders are accepted.", messages.SUCCESS)
            return None
        form = self.engage_form(request.POST)
        if not form.is_valid():
            return form
        try:
            self.engage(request, form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, refusal_text(exc))
            return form
        self.message_user(request, "The kill switch is engaged: no new order anywhere.", messages.WARNING)
        return None

    def engage(self, request, data: dict) -> None:
        """Engage the switch with the form's ``data``.

        :raises ApplicationError: the service's refusal (shown on the form).
        """
        services.kill_switch_engage(
            actor=request.user, reason=data["reason"], cancel_working=data["cancel_working"], via=VIA
        )


# --- read-only records ------------------------------------------------------------------------


@admin.register(AccountValue)
class AccountValueAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["account", "tag", "value", "currency", "updated_at"]
    list_filter = [("account", admin.RelatedOnlyFieldListFilter), "tag"]
    search_fields = ["account__code", "tag"]
    list_select_related = ["account"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The commands waiting for (or already given to) the relay: a view for whoever runs the desk."""

    list_display = [
        "id",
        "created_at",
        "stream",
        "type",
        "message_id",
        "published_at",
        "publish_count",
        "acknowledged_at",
    ]
    list_filter = ["stream", "type", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["message_id", "type"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_view_permission(self, request, obj=None) -> bool:
        # The data of every account travels here, so only superusers may read it.
        return request.user.is_superuser


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "state", "last_seen_at", "started_at", "detail"]
    search_fields = ["name"]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff


# API tokens (knox's admin) and sign-in lockouts (axes' admin) replaced by admins whose changes go
# through the audited services.
from accounts import alert_admin, audit_admin, lockout_admin, token_admin  # noqa: E402, F401
