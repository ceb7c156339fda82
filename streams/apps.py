from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Streams and live pages"

    def ready(self) -> None:
        from streams import celery_signals, publish, signals  # noqa: F401  (connects the receivers)
