"""WebSocket URL patterns; consumers live in ``streams.consumers``."""

websocket_urlpatterns: list = []
