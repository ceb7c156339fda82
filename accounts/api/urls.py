"""URLs of the accounts API (under /api/v1/)."""

from django.urls import path

from accounts.api import exports, views

urlpatterns = [
    path("accounts/", views.AccountListApi.as_view(), name="account-list"),
    path("accounts/<str:code>/halt/", views.AccountHaltApi.as_view(), name="account-halt"),
    path("accounts/<str:code>/resume/", views.AccountResumeApi.as_view(), name="account-resume"),
    path("kill-switch/", views.KillSwitchApi.as_view(), name="kill-switch"),
    path("kill-switch/engage/", views.KillSwitchEngageApi.as_view(), name="kill-switch-engage"),
    path("kill-switch/release/", views.KillSwitchReleaseApi.as_view(), name="kill-switch-release"),
    path("audit-log/export.csv", exports.AuditLogExportApi.as_view(), name="audit-log-export"),
    path("alerts/", views.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:pk>/", views.AlertDetailApi.as_view(), name="alert-detail"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAcknowledgeApi.as_view(), name="alert-acknowledge"),
    path("auth/tokens/", views.TokenListCreateApi.as_view(), name="token-list"),
    path("auth/tokens/<str:token_key>/", views.TokenRevokeApi.as_view(), name="token-revoke"),
]
