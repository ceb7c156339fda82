"""URLs of the strategies API (under /api/v1/)."""

from django.urls import path

from strategies.api import sessions, versions, views

urlpatterns = [
    path("strategies/", views.StrategyListApi.as_view(), name="strategy-list"),
    path("strategies/<int:pk>/", views.StrategyDetailApi.as_view(), name="strategy-detail"),
    path("strategies/node-types/", versions.StrategyNodeTypesApi.as_view(), name="strategy-node-types"),
    path("strategies/<int:pk>/versions/", versions.StrategyVersionListApi.as_view(), name="strategy-version-list"),
    path(
        "strategies/<int:pk>/versions/<int:number>/",
        versions.StrategyVersionDetailApi.as_view(),
        name="strategy-version-detail",
    ),
    path(
        "strategies/<int:pk>/versions/<int:number>/approve/",
        versions.StrategyVersionApproveApi.as_view(),
        name="strategy-version-approve",
    ),
    path("trading-sessions/", views.TradingSessionListApi.as_view(), name="trading-session-list"),
    path("trading-sessions/<int:pk>/", views.TradingSessionDetailApi.as_view(), name="trading-session-detail"),
    path("trading-sessions/<int:pk>/start/", views.TradingSessionStartApi.as_view(), name="trading-session-start"),
    path("trading-sessions/<int:pk>/pause/", views.TradingSessionPauseApi.as_view(), name="trading-session-pause"),
    path("trading-sessions/<int:pk>/resume/", views.TradingSessionResumeApi.as_view(), name="trading-session-resume"),
    path("trading-sessions/<int:pk>/stop/", views.TradingSessionStopApi.as_view(), name="trading-session-stop"),
    path(
        "trading-sessions/<int:pk>/equity/", sessions.TradingSessionEquityApi.as_view(), name="trading-session-equity"
    ),
    path(
        "trading-sessions/<int:pk>/decisions/",
        sessions.TradingSessionDecisionListApi.as_view(),
        name="trading-session-decisions",
    ),
    path(
        "trading-sessions/<int:pk>/fills/", sessions.TradingSessionFillListApi.as_view(), name="trading-session-fills"
    ),
]
