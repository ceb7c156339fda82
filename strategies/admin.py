"""The admin of strategies and their trading sessions; every write goes through ``strategies.services``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from accounts.admin import VIA, ask_reason
from accounts.admin_scoping import AccountScopedAdmin
from accounts.admin_services import ServiceSaveMixin, each_through_service, form_changes
from accounts.selectors import accounts_for_user
from orders.models import Instrument
from strategies import services
from strategies.admin_versions import versions_table
from strategies.models import Strategy, TradingSession
from strategies.selectors import strategy_list, strategy_version_list


class StrategyForm(forms.ModelForm):
    """A strategy whose parameters are a JSON object (names → values), never a list or a scalar."""

    class Meta:
        model = Strategy
        fields = ["name", "description", "parameters", "accounts", "enabled"]

    def clean_parameters(self):
        parameters = self.cleaned_data.get("parameters")
        if parameters is None:
            return {}
        if not isinstance(parameters, dict):
            raise forms.ValidationError(
                'Parameters must be a JSON object, such as {"fast": 10, "slow": 30}.', code="not_an_object"
            )
        bad = [key for key in parameters if not key.strip()]
        if bad:
            raise forms.ValidationError("Parameter names must not be empty.", code="empty_name")
        return parameters


@admin.register(Strategy)
class StrategyAdmin(ServiceSaveMixin, admin.ModelAdmin):
    """Strategies are added and edited through ``strategy_create`` / ``strategy_update`` (audited)."""

    form = StrategyForm
    list_display = ["name", "enabled", "account_codes", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "description"]
    filter_horizontal = ["accounts"]
    readonly_fields = ["versions"]

    def get_queryset(self, request):
        return strategy_list(user=request.user).prefetch_related("accounts")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "accounts":
            kwargs["queryset"] = accounts_for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def service_create(self, request, form) -> Strategy:
        data = form.cleaned_data
        return services.strategy_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            parameters=data["parameters"],
            accounts=data["accounts"],
            enabled=data["enabled"],
            via=VIA,
        )

    def service_update(self, request, obj: Strategy, form) -> Strategy:
        changes = form_changes(form, services.STRATEGY_EDITABLE)
        if "accounts" in changes and not request.user.is_superuser:
            # The form offers only the user's accounts; keep the accounts of other desks that
            # the strategy already trades instead of silently removing them.
            hidden = obj.accounts.exclude(pk__in=accounts_for_user(request.user).values("pk"))
            changes["accounts"] = [*changes["accounts"], *hidden]
        return services.strategy_update(strategy=obj, actor=request.user, via=VIA, **changes)

    def _in_scope(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Sessions and orders point at strategies; disable one instead.
        return False

    @admin.display(description="versions")
    def versions(self, strategy: Strategy) -> str:
        if strategy.pk is None:
            return "Save the strategy first, then its graph as version 1."
        return versions_table(strategy)

    @admin.display(description="accounts")
    def account_codes(self, strategy: Strategy) -> str:
        return ", ".join(account.code for account in strategy.accounts.all()) or "—"


class TradingSessionAddForm(forms.ModelForm):
    """A new session: the strategy and its pinned version, the account, the instrument, the mode,
    costs and limits; the service checks them all (a version of another strategy, a broker session
    of an unapproved version, a forward test without its starting equity)."""

    class Meta:
        model = TradingSession
        fields = [
            "strategy", "version", "account", "instrument", "mode", "resolution", "fee_model", "slippage_model",
            "slippage_amount", "max_position", "max_daily_loss", "starting_equity",
        ]  # fmt: skip
        help_texts = {
            "version": "A version of the strategy chosen above; a broker session needs one a Risk manager approved.",
            "starting_equity": "A forward test's paper cash (required); a broker session left blank starts from "
            "the account's net liquidation value.",
            "slippage_amount": "Ticks of the instrument's tick or basis points, by the slippage model.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("version", "instrument"):
            self.fields[name].required = True


class TradingSessionStopForm(forms.Form):
    """What the Stop action asks before it stops sessions for good."""

    reason = forms.CharField(max_length=200, help_text="Kept on the session and in the audit log.")
    flatten = forms.BooleanField(
        required=False,
        label="Flatten the position",
        help_text="A broker session: cancel its working orders and close its position with a market order. "
        "A forward test: close its simulated position at the last quote.",
    )


@admin.register(TradingSession)
class TradingSessionAdmin(ServiceSaveMixin, AccountScopedAdmin):
    list_display = [
        "strategy", "version", "account", "instrument", "mode", "status", "status_reason", "started_at",
        "stopped_at", "realized_pnl", "unrealized_pnl", "max_drawdown", "trade_count",
    ]  # fmt: skip
    list_filter = ["status", "mode", "strategy", ("account", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["strategy__name", "account__code", "instrument__symbol"]
    list_select_related = ["strategy", "account", "version__strategy", "instrument"]
    date_hierarchy = "created_at"
    actions = ["start_sessions", "pause_sessions", "resume_sessions", "stop_sessions"]
    FIGURES = [
        "starting_equity", "started_at", "stopped_at", "realized_pnl", "unrealized_pnl", "max_drawdown", "peak_pnl",
        "trade_count", "win_count", "created_at",
    ]  # fmt: skip
    # What the runner writes (its last bar, state, equity, lease) is shown, never edited.
    RUNNER_FIELDS = ["last_bar_time", "state", "equity", "sharpe", "lease_owner", "lease_expires_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["strategy", "version", "account", "instrument", "mode", "resolution", "status"]}),
        ("Why it last paused or stopped", {"fields": ["status_reason", "flatten_on_stop"]}),
        (
            "Costs and limits",
            {"fields": ["fee_model", "slippage_model", "slippage_amount", "max_position", "max_daily_loss"]},
        ),
        ("Figures", {"fields": FIGURES}),
        ("Runner", {"fields": RUNNER_FIELDS}),
    ]
    readonly_fields = ["status", "status_reason", "flatten_on_stop", *FIGURES, *RUNNER_FIELDS]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TradingSessionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": TradingSessionAddForm.Meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "strategy":
            kwargs["queryset"] = strategy_list(user=request.user).filter(enabled=True)
        elif db_field.name == "version":
            # Labelled "strategy vN"; that it belongs to the chosen strategy is the service's check.
            kwargs["queryset"] = strategy_version_list(user=request.user).filter(strategy__enabled=True)
        elif db_field.name == "instrument":
            kwargs["queryset"] = Instrument.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_create(self, request, form) -> TradingSession:
        # Opened pending; the Start action (trading_session_start) sets it running.
        data = form.cleaned_data
        return services.trading_session_create(actor=request.user, via=VIA, **data)

    def has_change_permission(self, request, obj=None) -> bool:
        # Status and metrics move only through the actions below, the fills of its orders and
        # the runner, so ``service_update`` is never reached.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_control_permission(self, request) -> bool:
        return request.user.has_perm("strategies.change_tradingsession")

    def _apply(self, request, queryset, service, done: str) -> None:
        """Run ``service`` on each selected session; each refusal shows as an error naming its session."""
        sessions = queryset.select_related("strategy", "account")
        count = each_through_service(
            self, request, sessions, lambda session: service(session=session, actor=request.user, via=VIA)
        )
        if count:
            self.message_user(request, f"{count} session(s) {done}.", messages.SUCCESS)

    @admin.action(description="Start the selected sessions", permissions=["control"])
    def start_sessions(self, request, queryset):
        self._apply(request, queryset, services.trading_session_start, "started")

    @admin.action(description="Pause the selected sessions", permissions=["control"])
    def pause_sessions(self, request, queryset):
        self._apply(request, queryset, services.trading_session_pause, "paused")

    @admin.action(description="Resume the selected sessions", permissions=["control"])
    def resume_sessions(self, request, queryset):
        self._apply(request, queryset, services.trading_session_resume, "resumed")

    @admin.action(description="Stop the selected sessions…", permissions=["control"])
    def stop_sessions(self, request, queryset):
        form = TradingSessionStopForm(request.POST if "apply" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            intro = "These sessions will stop for good (a stopped session cannot be started again):"
            return ask_reason(self, request, queryset, form, action="stop_sessions", title="Stop sessions", intro=intro)
        reason, flatten = form.cleaned_data["reason"], form.cleaned_data["flatten"]
        self._apply(
            request,
            queryset,
            lambda **kwargs: services.trading_session_stop(reason=reason, flatten=flatten, **kwargs),
            "stopped",
        )
        return None


# Backtests have an admin module of their own; imported here so the admin site registers it.
from strategies import admin_backtests  # noqa: E402, F401
