"""Refusals and failures of notifications: a configuration that does not hold, a target that did not take a message."""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class NotificationSettingInvalid(ApplicationError):
    code = "notification.invalid"
    http_status = 400
    default_message = "This notification setting is not valid."


class NotificationSettingTaken(ApplicationError):
    code = "notification.taken"
    http_status = 409
    default_message = "Another notification setting already has this name."


class ChannelDisabled(ApplicationError):
    code = "notification.channel_disabled"
    http_status = 409
    default_message = "The channel is disabled."


class DeliveryFailed(Exception):
    """A target did not take a message: ``permanent`` when trying again cannot help (an HTTP 4xx)."""

    code = "notification.delivery_failed"

    def __init__(self, reason: str, *, permanent: bool = False):
        self.reason = reason[:500]
        self.permanent = permanent
        super().__init__(self.reason)
