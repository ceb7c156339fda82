"""The admin of API tokens: list, create and revoke them through ``accounts.tokens`` (each audited).

Replaces knox's own admin, which saves and deletes rows directly (no audit row) and lists the
digests. A superuser manages everyone's tokens; anyone else (the roles hold the ``knox`` permissions)
sees, creates and revokes only their own. Imported by ``accounts.admin``; knox's admin module is
loaded earlier (INSTALLED_APPS order).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts import tokens
from tradeconsole.exceptions import ApplicationError


@admin.action(description="Revoke the selected tokens", permissions=["delete"])
def revoke_tokens(modeladmin, request, queryset):
    for token in queryset.select_related("user"):
        tokens.api_token_revoke(token=token, actor=request.user, via="admin")
    modeladmin.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: who holds which (by its first characters), since when and until when."""

    list_display = ("token_key", "user", "created", "expiry", "is_expired")
    list_filter = ("created", "expiry")
    search_fields = ("token_key", "user__username")
    list_select_related = ("user",)
    ordering = ("-created",)
    actions = [revoke_tokens]
    readonly_fields = ("token_key", "user", "created", "expiry")
    fields = ("token_key", "user", "created", "expiry")

    def get_queryset(self, request):
        tokens_ = super().get_queryset(request)
        return tokens_ if request.user.is_superuser else tokens_.filter(user=request.user)

    @admin.display(boolean=True, description="expired")
    def is_expired(self, token: AuthToken) -> bool:
        return token.expiry is not None and token.expiry <= timezone.now()

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes through the audited revoke
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            if request.user.is_superuser:
                return _TokenCreateModelForm
            # Not a superuser: the token is always one's own, with no choice of holder.
            return type("OwnTokenCreateModelForm", (_TokenCreateModelForm,), {"holder": request.user})
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "ttl_hours") if request.user.is_superuser else ("ttl_hours",)
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        obj.user = form.holder or form.cleaned_data["user"]
        try:
            token, text = tokens.api_token_create(
                user=obj.user,
                actor=request.user,
                ttl=timedelta(hours=form.cleaned_data["ttl_hours"]),
                via="admin",
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = token.pk
        # The only time the token text is shown: it is stored as a digest.
        self.message_user(
            request, f"Token for {token.user}: {text} (copy it now; it cannot be shown again).", messages.WARNING
        )

    def log_addition(self, request, obj, message):
        if obj.pk is not None:  # the service refused it: nothing was added
            super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        # Django's "The auth token “<digest> : user” was added" would offer the stored digest
        # beside the token; save_model has said what happened.
        if obj.pk is None or "_addanother" in request.POST:
            return HttpResponseRedirect(reverse("admin:knox_authtoken_add"))
        return HttpResponseRedirect(reverse("admin:knox_authtoken_changelist"))

    def delete_model(self, request, obj):
        tokens.api_token_revoke(token=obj, actor=request.user, via="admin")

    def delete_queryset(self, request, queryset):
        for token in queryset:
            tokens.api_token_revoke(token=token, actor=request.user, via="admin")


def _in_words(lifetime: timedelta) -> str:
    """Return ``lifetime`` as a desk user says it: "7 days", "36 hours", "1 day"."""
    hours = int(lifetime.total_seconds() // 3600)
    count, unit = (hours // 24, "day") if hours and hours % 24 == 0 else (hours, "hour")
    return f"{count} {unit}{'' if count == 1 else 's'}"


class _TokenCreateModelForm(forms.ModelForm):
    holder = None  # the user whose token this is, when they may not choose (not a superuser)
    ttl_hours = forms.IntegerField(min_value=1, initial=24, help_text="Lifetime in hours (at most the desk's maximum)")

    class Meta:
        model = AuthToken
        fields = ("user",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.holder is not None:
            del self.fields["user"]

    def clean(self):
        cleaned = super().clean()
        user, limit = self.holder or cleaned.get("user"), knox_settings.TOKEN_LIMIT_PER_USER
        if user is not None and limit is not None and tokens.api_token_list(user=user).count() >= limit:
            raise forms.ValidationError(f"{user} holds {limit} live tokens already; revoke one first.")
        return cleaned

    def clean_ttl_hours(self):
        hours = self.cleaned_data["ttl_hours"]
        if timedelta(hours=hours) > knox_settings.TOKEN_TTL:
            raise forms.ValidationError(f"At most {_in_words(knox_settings.TOKEN_TTL)} on this desk.")
        return hours

    def save(self, commit=True):
        # The admin's save_model creates the token through the service; nothing is saved here.
        return self.instance

    def save_m2m(self):
        return None


if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)
admin.site.register(AuthToken, ApiTokenAdmin)
