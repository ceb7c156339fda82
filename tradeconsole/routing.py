"""WebSocket URL patterns: the live pages (``streams.consumers``) and the market topics (``marketdata.topics``)."""

from django.urls import path

from marketdata.topics.consumer import MarketConsumer
from streams.consumers import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/market/", MarketConsumer.as_asgi()),
]
