from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from accounts.announce import changed
        from notifications.receivers import on_changed

        # Alerts are written by accounts, which knows nothing of notifications: their committed
        # changes reach us as announcements (accounts.announce), never as calls from accounts.
        changed.connect(on_changed, dispatch_uid="notifications.receivers.on_changed")
