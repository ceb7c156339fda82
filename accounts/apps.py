from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Desk and accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts.lockouts import on_user_locked_out
        from tradeconsole.db import guard_prepared_statements

        connection_created.connect(guard_prepared_statements, dispatch_uid="tradeconsole.db.guard_prepared_statements")
        user_locked_out.connect(on_user_locked_out, dispatch_uid="accounts.lockouts.on_user_locked_out")
