"""URLs of the orders API (under /api/v1/)."""

from django.urls import path

from orders.api import accounts, baskets, brackets, exports, views

urlpatterns = [
    path("accounts/<str:code>/", accounts.AccountDetailApi.as_view(), name="account-detail"),
    path("instruments/", views.InstrumentListApi.as_view(), name="instrument-list"),
    path("instruments/<int:pk>/", views.InstrumentDetailApi.as_view(), name="instrument-detail"),
    path("orders/", views.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/export.csv", exports.OrderExportApi.as_view(), name="order-export"),
    path("orders/<uuid:client_order_id>/", views.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<uuid:client_order_id>/cancel/", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("brackets/", brackets.BracketCreateApi.as_view(), name="bracket-list"),
    path("baskets/", baskets.BasketListCreateApi.as_view(), name="basket-list"),
    path("baskets/preview/", baskets.BasketPreviewApi.as_view(), name="basket-preview"),
    path("baskets/<int:pk>/", baskets.BasketDetailApi.as_view(), name="basket-detail"),
    path("baskets/<int:pk>/cancel/", baskets.BasketCancelApi.as_view(), name="basket-cancel"),
    path("fills/", views.FillListApi.as_view(), name="fill-list"),
    path("fills/export.csv", exports.FillExportApi.as_view(), name="fill-export"),
    path("positions/", views.PositionListApi.as_view(), name="position-list"),
    path("positions/export.csv", exports.PositionExportApi.as_view(), name="position-export"),
    path("pnl/", views.PnLHistoryApi.as_view(), name="pnl-history"),
    path("risk-limits/", views.RiskLimitListApi.as_view(), name="risk-limit-list"),
    path("risk-limits/<str:code>/", views.RiskLimitDetailApi.as_view(), name="risk-limit-detail"),
    path("scheduled-orders/", views.ScheduledOrderListCreateApi.as_view(), name="scheduled-order-list"),
    path("scheduled-orders/<int:pk>/", views.ScheduledOrderDetailApi.as_view(), name="scheduled-order-detail"),
    path("scheduled-orders/<int:pk>/enable/", views.ScheduledOrderEnableApi.as_view(), name="scheduled-order-enable"),
    path(
        "scheduled-orders/<int:pk>/disable/", views.ScheduledOrderDisableApi.as_view(), name="scheduled-order-disable"
    ),
    path(
        "scheduled-orders/<int:pk>/next-firings/",
        views.ScheduledOrderNextFiringsApi.as_view(),
        name="scheduled-order-next-firings",
    ),
]
