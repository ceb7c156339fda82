"""The admin of backtests: the request form, the list with each one's status, progress and headline metrics; a
read-only detail page with the metrics, an equity chart (uPlot) and the trades on a price chart (lightweight-charts);
the Cancel action.

Every write goes through ``strategies.services.backtests``; a backtest is never edited here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models.fields.json import KT
from django.utils.html import format_html, format_html_join

from accounts.admin_services import VIA, ServiceSaveMixin
from strategies.models import Backtest
from strategies.selectors import strategy_version_list
from strategies.selectors_backtests import backtest_instrument, backtest_list, price_bars
from strategies.services.backtests import CANCEL_PERM, REQUEST_PERM, backtest_cancel, backtest_request
from tradeconsole.exceptions import ApplicationError

# The price chart's candles: beyond this many bars, every n-th bar's close is drawn as a line.
PRICE_POINTS = 5000
METRIC_LABELS = {
    "total_return": ("Total return", "percent"),
    "pnl": ("PnL", "money"),
    "final_equity": ("Final equity", "money"),
    "max_drawdown": ("Max drawdown", "percent"),
    "max_drawdown_amount": ("Max drawdown ($)", "money"),
    "win_rate": ("Win rate", "percent"),
    "profit_factor": ("Profit factor", "ratio"),
    "sharpe": ("Sharpe (annualised)", "ratio"),
    "sortino": ("Sortino (annualised)", "ratio"),
    "exposure": ("Exposure", "percent"),
    "trade_count": ("Trades", "count"),
    "fees": ("Fees", "money"),
    "bars": ("Bars", "count"),
}


def metric_text(value, kind: str) -> str:
    """One metric as the admin shows it ("n/a" where it is undefined)."""
    if value is None:
        return "n/a"
    if kind == "percent":
        return f"{value * 100:.2f} %"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:.3f}"


REQUEST_FIELDS = [
    "version", "symbols", "resolution", "start", "end", "starting_cash", "fee_model", "slippage_model",
    "slippage_amount",
]  # fmt: skip


class BacktestRequestForm(forms.ModelForm):
    """A backtest to queue: the symbols as text ("AAPL, MSFT"); ``backtest_request`` checks the rest."""

    symbols = forms.CharField(max_length=500, help_text="Comma-separated, e.g. AAPL, MSFT")

    class Meta:
        model = Backtest
        fields = REQUEST_FIELDS

    def clean_symbols(self) -> list[str]:
        return [s.strip().upper() for s in self.cleaned_data["symbols"].split(",") if s.strip()]


@admin.register(Backtest)
class BacktestAdmin(ServiceSaveMixin, admin.ModelAdmin):
    list_display = ["id", "version", "symbol_list", "resolution", "status", "progress", "total_return", "trades"]
    list_display += ["requested_by", "created_at"]
    list_filter = ["status", "fee_model", "resolution"]
    list_select_related = ["version__strategy", "requested_by"]
    search_fields = ["version__strategy__name", "symbols"]
    show_full_result_count = False
    actions = ["cancel_selected"]
    change_form_template = "admin/strategies/backtest/change_form.html"
    exclude = ["results"]
    readonly_fields = [
        "version", "symbols", "resolution", "start", "end", "starting_cash", "fee_model", "slippage_model",
        "slippage_amount", "status", "progress", "error_code", "error", "requested_by", "created_at", "started_at",
        "finished_at", "metrics_table",
    ]  # fmt: skip

    def get_queryset(self, request):
        # The list reads two metrics out of the results in SQL; the detail loads the results once.
        return (
            backtest_list(user=request.user)
            .annotate(
                return_value=KT("results__metrics__total_return"), trade_value=KT("results__metrics__trade_count")
            )
            .defer("results")
        )

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm(REQUEST_PERM)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BacktestRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return REQUEST_FIELDS if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "version":
            kwargs["queryset"] = strategy_version_list(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_create(self, request, form) -> Backtest:
        # The service checks the request whole and queues the task once the admin's transaction commits.
        data = {name: form.cleaned_data[name] for name in REQUEST_FIELDS}
        return backtest_request(actor=request.user, via=VIA, **data)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The detail page is read-only; only the Cancel action writes, through the service.
        return False

    @admin.display(description="symbols")
    def symbol_list(self, obj: Backtest) -> str:
        return ", ".join(obj.symbols)

    @admin.display(description="return")
    def total_return(self, obj: Backtest) -> str:
        value = obj.return_value
        return metric_text(float(value), "percent") if value is not None else ""

    @admin.display(description="trades")
    def trades(self, obj: Backtest) -> str:
        value = obj.trade_value
        return metric_text(float(value), "count") if value is not None else ""

    @admin.display(description="metrics")
    def metrics_table(self, obj: Backtest) -> str:
        if not obj.metrics:
            return "none yet"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((label, metric_text(obj.metrics.get(key), kind)) for key, (label, kind) in METRIC_LABELS.items()),
        )
        return format_html("<table>{}</table>", rows)

    @admin.action(description="Cancel the selected backtests", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        done = 0
        for backtest in queryset:
            try:
                backtest_cancel(actor=request.user, backtest=backtest, via=VIA)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"Backtest {backtest.pk}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} backtest(s) cancelled.", messages.SUCCESS)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(CANCEL_PERM)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        backtest = backtest_list(user=request.user).filter(pk=object_id).first()
        if backtest is not None and backtest.results:
            extra_context["backtest_charts"] = chart_data(backtest)
        return super().change_view(request, object_id, form_url, extra_context)


def chart_data(backtest: Backtest) -> dict:
    """The equity curve, the first symbol's price bars (thinned to ``PRICE_POINTS``) and its trades, for the charts."""
    results = backtest.results or {}
    symbol = backtest.symbols[0]
    instrument = backtest_instrument(symbol)
    bars = (
        price_bars(
            instrument=instrument,
            resolution=backtest.resolution,
            start=backtest.start,
            end=backtest.end,
            points=PRICE_POINTS,
        )
        if instrument is not None
        else {"candles": True, "time": [], "open": [], "high": [], "low": [], "close": []}
    )
    trades = [t for t in results.get("trades", []) + results.get("open_trades", []) if t["symbol"] == symbol]
    return {"symbol": symbol, "equity": results.get("equity_curve", {}), "prices": bars, "trades": trades}
