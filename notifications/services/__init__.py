"""Every write of the notifications app; callers import from this package.

``dispatch`` turns alert changes into deliveries, ``delivery`` sends one, ``setup`` writes what
people configure. Deliveries are recorded here and sent by ``notifications.tasks``.
"""

from notifications.services.delivery import deliveries_purge, delivery_attempt
from notifications.services.dispatch import alert_escalations_due, alert_notify, alerts_untold, deliveries_create
from notifications.services.setup import channel_test_send, notification_setting_delete, notification_setting_save

__all__ = [
    "alert_escalations_due",
    "alert_notify",
    "alerts_untold",
    "channel_test_send",
    "deliveries_create",
    "deliveries_purge",
    "delivery_attempt",
    "notification_setting_delete",
    "notification_setting_save",
]
