from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Desk and accounts"

    def ready(self) -> None:
        from tradeconsole.db import guard_prepared_statements

        connection_created.connect(guard_prepared_statements, dispatch_uid="tradeconsole.db.guard_prepared_statements")
