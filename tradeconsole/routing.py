"""WebSocket URL patterns; consumers live in ``streams.consumers``."""

from django.urls import path

from streams.consumers import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
