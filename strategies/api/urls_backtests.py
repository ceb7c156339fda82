"""URLs of the backtests API (under /api/v1/)."""

from django.urls import path

from strategies.api import backtests

urlpatterns = [
    path("backtests/", backtests.BacktestListApi.as_view(), name="backtest-list"),
    path("backtests/<int:pk>/", backtests.BacktestDetailApi.as_view(), name="backtest-detail"),
    path("backtests/<int:pk>/cancel/", backtests.BacktestCancelApi.as_view(), name="backtest-cancel"),
]
