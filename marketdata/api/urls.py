"""URLs of the market-data API (under /api/v1/): the UDF datafeed and the watchlist."""

from django.urls import path

from marketdata.api import views, watchlist

urlpatterns = [
    path("datafeed/config", views.DatafeedConfigApi.as_view(), name="datafeed-config"),
    path("datafeed/time", views.DatafeedTimeApi.as_view(), name="datafeed-time"),
    path("datafeed/symbols", views.DatafeedSymbolApi.as_view(), name="datafeed-symbols"),
    path("datafeed/search", views.DatafeedSearchApi.as_view(), name="datafeed-search"),
    path("datafeed/history", views.DatafeedHistoryApi.as_view(), name="datafeed-history"),
    path("datafeed/marks", views.DatafeedMarksApi.as_view(), name="datafeed-marks"),
    path("datafeed/quotes", views.DatafeedQuotesApi.as_view(), name="datafeed-quotes"),
    path("watchlist/", watchlist.WatchlistApi.as_view(), name="watchlist"),
    path("watchlist/<str:symbol>/", watchlist.WatchlistSymbolApi.as_view(), name="watchlist-symbol"),
]
