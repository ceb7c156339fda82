from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "Strategies"

    def ready(self) -> None:
        # Register the app's Celery tasks in every process, the web's included: backtest_request
        # queues run_backtest by name through the app's task registry, and Celery's autodiscovery
        # imports tasks.py only in a worker (the API answered 500 NotRegistered under daphne).
        from strategies import tasks  # noqa: F401
