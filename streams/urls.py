"""URLs of the live pages and their controls (included at ``live/``)."""

from django.urls import path

import streams.modify_views as modify_views
from streams import basket_page, blotter_page, editor_page, flatten_views, market_page, session_page, ticket_page, views

app_name = "streams"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("orders/", blotter_page.blotter, name="blotter"),
    path("positions/", views.positions, name="positions"),
    path("baskets/", basket_page.baskets, name="baskets"),
    path("baskets/send", basket_page.basket_send_view, name="basket-send"),
    path("baskets/<int:pk>/", basket_page.basket, name="basket"),
    path("baskets/<int:pk>/cancel", basket_page.basket_cancel_view, name="basket-cancel"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/<int:pk>/", session_page.session, name="session"),
    path("market/", views.market, name="market"),
    path("market/chart/", market_page.chart, name="chart"),
    path("market/chart/ticket", market_page.ticket_view, name="chart-ticket"),
    path("ticket/", ticket_page.row_ticket, name="row-ticket"),
    path("strategies/editor/", editor_page.editor, name="editor"),
    path("system/", views.system, name="system"),
    path("orders/<int:pk>/cancel", views.order_cancel_view, name="order-cancel"),
    path("orders/<int:pk>/modify", modify_views.order_modify_view, name="order-modify"),
    path("accounts/<int:pk>/halt", views.account_halt_view, {"action": "halt"}, name="account-halt"),
    path("accounts/<int:pk>/resume", views.account_halt_view, {"action": "resume"}, name="account-resume"),
    path("accounts/<int:pk>/flatten", flatten_views.account_flatten_view, name="account-flatten"),
    path("positions/<int:pk>/flatten", flatten_views.position_flatten_view, name="position-flatten"),
    *(
        path(f"sessions/<int:pk>/{action}", views.session_control_view, {"action": action}, name=f"session-{action}")
        for action in ("start", "pause", "resume", "stop")
    ),
]
