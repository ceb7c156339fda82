"""The desk's notification setup, written by people: channels, rules and preferences saved and deleted
with an audit row, and a channel's test message."""

from __future__ import annotations

from django.db import models, transaction
from django.forms.models import model_to_dict

from accounts.models import User
from accounts.services import audit_record, model_validate, require_actor, save_unique
from notifications.exceptions import ChannelDisabled, NotificationSettingInvalid, NotificationSettingTaken
from notifications.models import Channel, Delivery

# Never written to the audit log: only whether it changed.
SECRET_FIELDS = ("secret",)


def _snapshot(instance: models.Model, m2m: dict | None = None) -> dict:
    values = model_to_dict(instance, fields=[f.name for f in instance._meta.concrete_fields if f.name != "id"])
    values.update({name: sorted(obj.pk for obj in objs) for name, objs in (m2m or {}).items()})
    for name in SECRET_FIELDS:
        if name in values:
            values[name] = "set" if values[name] else ""
    return values


def _perm(instance: models.Model, action: str) -> str:
    return f"{instance._meta.app_label}.{action}_{instance._meta.model_name}"


@transaction.atomic
def notification_setting_save(
    *, instance: models.Model, actor: User | None, via: str, m2m: dict | None = None
) -> models.Model:
    """Create or change a channel, rule or preference as given in ``instance`` (and its many-to-many ``m2m``).

    Audited as ``<model>.create`` / ``<model>.update`` with what changed (a secret only as "set").

    :raises PermissionRequired: ``actor`` may not add or change this kind of setting.
    :raises NotificationSettingInvalid: a field breaks its rule.
    :raises NotificationSettingTaken: the name (or the person's preference) exists already.
    """
    adding = instance._state.adding or instance.pk is None
    require_actor(actor, perm=_perm(instance, "add" if adding else "change"))
    before, secrets_changed = {}, set()
    if not adding:
        stored = type(instance).objects.select_for_update().get(pk=instance.pk)
        before = _snapshot(stored, {name: getattr(stored, name).all() for name in (m2m or {})})
        secrets_changed = {
            name for name in SECRET_FIELDS if hasattr(stored, name) and getattr(stored, name) != getattr(instance, name)
        }
    model_validate(instance, invalid=NotificationSettingInvalid, taken=NotificationSettingTaken)
    save_unique(instance, taken=NotificationSettingTaken)
    for name, objs in (m2m or {}).items():
        getattr(instance, name).set(objs)
    after = _snapshot(instance, m2m)
    changed = set(after) if adding else {name for name in after if before.get(name) != after[name]} | secrets_changed
    if changed:
        audit_record(
            actor=actor,
            action=f"{instance._meta.model_name}.{'create' if adding else 'update'}",
            obj=instance,
            before={name: before.get(name) for name in changed} if not adding else None,
            after={name: after.get(name) for name in changed},
            via=via,
        )
    return instance


@transaction.atomic
def notification_setting_delete(*, instance: models.Model, actor: User | None, via: str) -> None:
    """Delete a channel, rule or preference; audited as ``<model>.delete`` with what it was.

    A channel's deliveries go with it.

    :raises PermissionRequired: ``actor`` may not delete this kind of setting.
    """
    require_actor(actor, perm=_perm(instance, "delete"))
    audit_record(
        actor=actor, action=f"{instance._meta.model_name}.delete", obj=instance, before=_snapshot(instance), via=via
    )
    instance.delete()


@transaction.atomic
def channel_test_send(*, channel: Channel, actor: User | None, via: str) -> Delivery:
    """Queue a test message to ``channel``, through the same path as an alert's; audited as ``channel.test``.

    The caller hands the delivery to Celery (``notifications.tasks.deliveries_send``).

    :raises PermissionRequired: ``actor`` may not change channels.
    :raises ChannelDisabled: the channel is disabled.
    """
    require_actor(actor, perm="notifications.change_channel")
    channel = Channel.objects.get(pk=channel.pk)
    if not channel.enabled:
        raise ChannelDisabled(f"{channel.name} is disabled: enable it to test it.")
    delivery = Delivery.objects.create(event=Delivery.Event.TEST, channel=channel, recipient=channel.target)
    audit_record(actor=actor, action="channel.test", obj=channel, after={"delivery": delivery.pk}, via=via)
    return delivery
