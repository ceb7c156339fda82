"""URLs of the console: admin, health, API, live pages."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.two_factor import DeskLoginForm
from accounts.two_factor_views import enrol as two_factor_enrol
from tradeconsole import health, metrics

admin.site.site_header = "tradeconsole"
admin.site.site_title = "tradeconsole"
admin.site.index_title = "The desk"
admin.site.site_url = "/live/"  # the admin's "View site": the live desk
admin.site.login_form = DeskLoginForm  # password, and the authenticator's code for who enrolled one

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/"), name="root"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/detailed", health.detailed, name="health-detailed"),
    path("metrics", metrics.export, name="metrics"),
    path("admin/two-factor/", two_factor_enrol, name="two-factor-enrol"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("tradeconsole.api")),
    path("live/", include("streams.urls")),
]

# A refusal anywhere answers with the console's styled page, not the bare one (issue 22).
handler403 = "tradeconsole.errors.permission_denied"
