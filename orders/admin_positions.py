"""The admin of fills, positions (with their open FIFO lots) and PnL points: records the
services keep, shown read-only."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from orders.admin_flatten import FlattenActionsMixin
from orders.admin_orders import ACCOUNT_FILTER
from orders.exports import FILL_COLUMNS, POSITION_COLUMNS
from orders.models import Fill, PnLPoint, Position, PositionLot
from tradeconsole.csv_admin import CsvExportAdminMixin


@admin.register(Fill)
class FillAdmin(CsvExportAdminMixin, ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = [
        "executed_at", "exec_id", "account", "instrument", "side", "quantity", "price", "commission",
        "realized_pnl", "order",
    ]  # fmt: skip
    list_filter = ["side", ACCOUNT_FILTER]
    search_fields = ["=exec_id", "instrument__symbol", "account__code", "order__client_order_id"]
    list_select_related = ["account", "instrument", "order__instrument"]
    date_hierarchy = "executed_at"
    show_full_result_count = False
    csv_columns = FILL_COLUMNS
    csv_name = "fills"
    csv_select_related = ["account", "instrument", "order"]


class PositionLotInline(ReadOnlyInline):
    model = PositionLot
    fields = ["opened_at", "quantity", "price", "fill"]
    verbose_name_plural = "open FIFO lots"


@admin.register(Position)
class PositionAdmin(FlattenActionsMixin, CsvExportAdminMixin, ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = [
        "account", "instrument", "quantity", "average_cost", "realized_pnl", "broker_quantity", "broker_reported_at",
        "updated_at",
    ]  # fmt: skip
    list_filter = [ACCOUNT_FILTER]
    search_fields = ["instrument__symbol", "account__code"]
    list_select_related = ["account", "instrument"]
    inlines = [PositionLotInline]
    csv_columns = POSITION_COLUMNS
    csv_name = "positions"
    actions = ["flatten_positions", "flatten_accounts"]


@admin.register(PnLPoint)
class PnLPointAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["at", "account", "realized_pnl", "unrealized_pnl", "total_pnl"]
    list_filter = [ACCOUNT_FILTER]
    list_select_related = ["account"]
    date_hierarchy = "at"
    show_full_result_count = False
