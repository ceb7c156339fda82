"""The admin of risk limits: Risk managers edit an account's limits and policies here; every save
goes through ``risk_limit_update``, which audits and publishes them."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.admin import VIA
from accounts.admin_scoping import AccountScopedAdmin
from accounts.admin_services import RefusalAsMessageMixin
from orders import services
from orders.models import RiskLimit


class RiskLimitForm(forms.ModelForm):
    """The limits ``risk_limit_update`` accepts, checked here the way the service checks them."""

    class Meta:
        model = RiskLimit
        fields = ["account", *services.RISK_LIMIT_FIELDS, "allowed_instruments", *services.RISK_POLICY_FIELDS]

    def clean(self):
        cleaned = super().clean()
        for name in (*services.RISK_LIMIT_FIELDS, *services.RISK_POLICY_FIELDS):
            value = cleaned.get(name)
            if value is not None and not isinstance(value, str) and value < 0:
                self.add_error(name, "Must be zero or more.")
        return cleaned


@admin.register(RiskLimit)
class RiskLimitAdmin(RefusalAsMessageMixin, AccountScopedAdmin):
    """Risk managers edit limits here; every save goes through ``risk_limit_update``, which publishes them.

    A refusal of the service is shown on the form again (``RefusalAsMessageMixin``).
    """

    form = RiskLimitForm
    list_display = ["account", *services.RISK_LIMIT_FIELDS, "updated_at"]
    list_select_related = ["account"]
    search_fields = ["account__code"]
    filter_horizontal = ["allowed_instruments"]

    fieldsets = [
        (None, {"fields": ["account", *services.RISK_LIMIT_FIELDS, "allowed_instruments"]}),
        (
            "Approval and monitoring",
            {
                "fields": list(services.RISK_POLICY_FIELDS),
                "description": "Not sent to the worker: order entry and the monitoring loop read them.",
            },
        ),
        (None, {"fields": ["updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["account", "updated_at"] if obj is not None else ["updated_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # No row means the model's defaults; deleting would silently loosen an account's limits.
        return False

    def save_model(self, request, obj: RiskLimit, form, change: bool) -> None:
        limits = (*services.RISK_LIMIT_FIELDS, *services.RISK_POLICY_FIELDS)
        names = [name for name in form.changed_data if name in limits] if change else list(limits)
        changes = {name: form.cleaned_data[name] for name in names}
        if not change or "allowed_instruments" in form.changed_data:
            changes["allowed_instruments"] = list(form.cleaned_data["allowed_instruments"])
        saved = services.risk_limit_update(risk_limit=obj, actor=request.user, via=VIA, **changes)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change: bool) -> None:
        # The service already stored the allowed instruments.
        return None
