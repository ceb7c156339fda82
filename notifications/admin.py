"""The admin of notifications: channels (with "Send test"), routing rules and preferences written through
``notifications.services`` (audited); deliveries read-only, every attempt and failure shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from accounts.admin_scoping import ReadOnlyAdminMixin
from accounts.admin_services import VIA, ServiceSaveMixin, each_through_service
from notifications import services, tasks
from notifications.models import Channel, Delivery, Rule, UserPreference


class SettingAdmin(ServiceSaveMixin, admin.ModelAdmin):
    """Saves and deletes through ``notification_setting_save`` / ``notification_setting_delete``."""

    def _m2m(self, form) -> dict:
        return {
            field.name: form.cleaned_data[field.name]
            for field in self.model._meta.many_to_many
            if field.name in form.cleaned_data
        }

    def service_create(self, request: HttpRequest, form):
        return services.notification_setting_save(
            instance=form.instance, actor=request.user, via=VIA, m2m=self._m2m(form)
        )

    def service_update(self, request: HttpRequest, obj, form):
        return services.notification_setting_save(instance=obj, actor=request.user, via=VIA, m2m=self._m2m(form))

    def delete_model(self, request: HttpRequest, obj) -> None:
        services.notification_setting_delete(instance=obj, actor=request.user, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            services.notification_setting_delete(instance=obj, actor=request.user, via=VIA)


@admin.register(Channel)
class ChannelAdmin(SettingAdmin):
    list_display = ["name", "kind", "target", "enabled", "rate_limit_per_minute"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "target"]
    actions = ["send_test"]

    @admin.action(description="Send a test message to the selected channels", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset) -> None:
        queued: list[Delivery] = []
        done = each_through_service(
            self,
            request,
            queryset,
            lambda channel: queued.append(services.channel_test_send(channel=channel, actor=request.user, via=VIA)),
        )
        tasks.deliveries_send(queued)
        if done:
            self.message_user(
                request, f"{done} test message(s) queued: see Deliveries for how each went.", messages.SUCCESS
            )


@admin.register(Rule)
class RuleAdmin(SettingAdmin):
    list_display = ["name", "enabled", "min_severity", "kinds", "account", "escalate_after_minutes"]
    list_filter = ["enabled", "min_severity", ("account", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "kinds"]
    filter_horizontal = ["channels", "users", "groups", "escalation_channels", "escalation_users"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        ("Which alerts", {"fields": ["min_severity", "kinds", "account"]}),
        ("Sent to", {"fields": ["channels", "users", "groups"]}),
        (
            "Escalation of critical alerts nobody acknowledged",
            {"fields": ["escalate_after_minutes", "escalation_channels", "escalation_users"]},
        ),
    ]


@admin.register(UserPreference)
class UserPreferenceAdmin(SettingAdmin):
    list_display = ["user", "email", "enabled", "min_severity", "muted_kinds", "quiet_start", "quiet_end"]
    list_filter = ["enabled", "min_severity"]
    search_fields = ["user__username", "email"]
    autocomplete_fields = ["user"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "status",
        "channel",
        "user",
        "recipient",
        "attempts",
        "alert",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "event", ("channel", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["recipient", "alert__key", "alert__message", "last_error"]
    list_select_related = ["channel", "user", "alert"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        "alert", "event", "rule", "channel", "user", "recipient", "status", "attempts", "errors", "last_error",
        "created_at", "admitted_at", "sent_at",
    ]  # fmt: skip
