"""Live market topics over WebSocket (``/ws/market/``): the consumer, its frames, the per-process hub."""
