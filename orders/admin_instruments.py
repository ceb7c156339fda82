"""The admin of instruments: added, edited, retired and reactivated through ``instrument_create`` /
``instrument_update`` (audited); never deleted."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from accounts.admin import VIA
from accounts.admin_services import ServiceSaveMixin, each_through_service, form_changes
from orders import services
from orders.models import Instrument


@admin.register(Instrument)
class InstrumentAdmin(ServiceSaveMixin, admin.ModelAdmin):
    list_display = [
        "symbol", "sec_type", "exchange", "primary_exchange", "currency", "con_id", "min_tick",
        "last_price", "last_price_at", "active",
    ]  # fmt: skip
    list_filter = ["active", "sec_type", "primary_exchange", "currency"]
    search_fields = ["symbol", "description", "=con_id"]
    # The reference price moves only with market data (``instrument_record_price``).
    readonly_fields = ["last_price", "last_price_at"]

    actions = ["deactivate_instruments", "activate_instruments"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Orders and fills point at instruments; retire one by unticking "active".
        return False

    def service_create(self, request: HttpRequest, form) -> Instrument:
        fields = {name: form.cleaned_data[name] for name in services.INSTRUMENT_EDITABLE if name in form.cleaned_data}
        return services.instrument_create(actor=request.user, via=VIA, **fields)

    def service_update(self, request: HttpRequest, obj: Instrument, form) -> Instrument:
        changes = form_changes(form, services.INSTRUMENT_EDITABLE)
        return services.instrument_update(instrument=obj, actor=request.user, via=VIA, **changes)

    def _set_active(self, request: HttpRequest, queryset, active: bool, done: str) -> None:
        count = each_through_service(
            self,
            request,
            queryset,
            lambda instrument: services.instrument_update(
                instrument=instrument, actor=request.user, active=active, via=VIA
            ),
        )
        if count:
            self.message_user(request, f"{count} instrument(s) {done}.", messages.SUCCESS)

    @admin.action(description="Retire the selected instruments (no new orders)", permissions=["change"])
    def deactivate_instruments(self, request: HttpRequest, queryset):
        self._set_active(request, queryset, False, "retired")

    @admin.action(description="Reactivate the selected instruments", permissions=["change"])
    def activate_instruments(self, request: HttpRequest, queryset):
        self._set_active(request, queryset, True, "reactivated")
