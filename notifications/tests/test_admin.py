"""The notifications admin: a channel's "Send test", settings written through the services (audited),
deliveries shown read-only with their failures."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Alert, AuditLog, Role
from accounts.tests.factories import UserFactory
from notifications.models import Channel, Delivery, Rule
from notifications.tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

CHANNELS_URL = reverse("admin:notifications_channel_changelist")
DELIVERIES_URL = reverse("admin:notifications_delivery_changelist")


def send_test(client, *channels):
    return client.post(CHANNELS_URL, {"action": "send_test", "_selected_action": [c.pk for c in channels]})


def test_send_test_delivers_to_each_selected_channel_and_records_it(
    client, admin_user, eager, http_sink, smtp_server, django_capture_on_commit_callbacks
):
    hook = ChannelFactory(name="hook", kind=Channel.Kind.WEBHOOK, target=http_sink.url, secret="k")
    mail = ChannelFactory(name="mail", kind=Channel.Kind.EMAIL, target="ops@desk.example")
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = send_test(client, hook, mail)

    assert response.status_code == 302
    [request] = http_sink.requests
    assert request.json["event"] == "test" and request.json["alert"] is None
    [(recipients, message)] = smtp_server.messages
    assert (recipients, message["Subject"]) == (["ops@desk.example"], "tradeconsole: test notification")
    deliveries = Delivery.objects.filter(event=Delivery.Event.TEST)
    assert {(d.channel.name, d.status) for d in deliveries} == {("hook", "sent"), ("mail", "sent")}
    audits = AuditLog.objects.filter(action="channel.test")
    assert {(a.object_id, a.actor, a.via) for a in audits} == {
        (str(hook.pk), admin_user, "admin"),
        (str(mail.pk), admin_user, "admin"),
    }


def test_send_test_of_a_disabled_channel_is_refused_with_its_reason(client, admin_user, eager):
    channel = ChannelFactory(name="off", enabled=False)
    client.force_login(admin_user)

    response = send_test(client, channel)

    assert response.status_code == 302
    shown = [str(message) for message in response.wsgi_request._messages]
    assert shown == [f"{channel}: off is disabled: enable it to test it. (notification.channel_disabled)"]
    assert not Delivery.objects.exists()


def test_a_failed_test_shows_its_error_in_the_deliveries(
    client, admin_user, eager, http_sink, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_MAX_RETRIES = 1
    http_sink.answer(502, 502)
    channel = ChannelFactory(name="flaky", target=http_sink.url)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        send_test(client, channel)

    response = client.get(DELIVERIES_URL, {"status__exact": "failed"})

    assert response.status_code == 200
    [delivery] = response.context["cl"].result_list
    assert (delivery.channel, delivery.attempts, delivery.last_error) == (channel, 2, "HTTP 502: sink says no")
    assert "HTTP 502: sink says no" in response.content.decode()
    page = client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and not page.context["has_change_permission"]


def test_a_channel_added_in_the_admin_is_audited_without_its_secret(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:notifications_channel_add"),
        {
            "name": "Desk Slack",
            "kind": "webhook",
            "target": "https://hooks.example/abc",
            "secret": "very-secret",
            "enabled": "on",
            "rate_limit_per_minute": "10",
        },
    )

    assert response.status_code == 302
    channel = Channel.objects.get(name="Desk Slack")
    assert (channel.secret, channel.rate_limit_per_minute) == ("very-secret", 10)
    audit = AuditLog.objects.get(action="channel.create")
    assert (audit.actor, audit.object_id, audit.after["secret"], audit.after["name"]) == (
        admin_user,
        str(channel.pk),
        "set",
        "Desk Slack",
    )
    assert "very-secret" not in str(audit.after)


def test_a_rule_edited_in_the_admin_saves_its_targets_and_audits_what_changed(client, admin_user, account):
    client.force_login(admin_user)
    hook, pager = ChannelFactory(name="hook"), ChannelFactory(name="pager")
    risk_manager = UserFactory(username="rm", roles=[Role.RISK_MANAGER])
    data = {
        "name": "Critical to the pager",
        "enabled": "on",
        "min_severity": "critical",
        "kinds": "gateway.*",
        "account": account.pk,
        "channels": [hook.pk],
        "users": [risk_manager.pk],
        "escalate_after_minutes": "5",
        "escalation_channels": [pager.pk],
    }
    assert client.post(reverse("admin:notifications_rule_add"), data).status_code == 302
    rule = Rule.objects.get()

    data |= {"channels": [hook.pk, pager.pk], "escalate_after_minutes": "10"}
    assert client.post(reverse("admin:notifications_rule_change", args=[rule.pk]), data).status_code == 302

    rule.refresh_from_db()
    assert (rule.min_severity, rule.kind_patterns, rule.account, rule.escalate_after_minutes) == (
        Alert.Severity.CRITICAL,
        ["gateway.*"],
        account,
        10,
    )
    assert set(rule.channels.all()) == {hook, pager} and list(rule.users.all()) == [risk_manager]
    update = AuditLog.objects.get(action="rule.update")
    assert update.before == {"channels": [hook.pk], "escalate_after_minutes": 5}
    assert update.after == {"channels": sorted([hook.pk, pager.pk]), "escalate_after_minutes": 10}


def test_a_channel_deleted_in_the_admin_is_audited(client, admin_user):
    client.force_login(admin_user)
    channel = ChannelFactory(name="old")

    response = client.post(reverse("admin:notifications_channel_delete", args=[channel.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Channel.objects.exists()
    audit = AuditLog.objects.get(action="channel.delete")
    assert (audit.object_id, audit.before["name"]) == (str(channel.pk), "old")


def test_someone_without_the_notification_permissions_cannot_change_the_setup(client, trader):
    client.force_login(trader)

    assert client.get(CHANNELS_URL).status_code == 403
    assert client.get(reverse("admin:notifications_rule_add")).status_code == 403


@pytest.mark.parametrize(
    ("kind", "target", "error"),
    [
        ("email", "ops@desk.example, not-an-address", "not-an-address is not an email address."),
        ("email", " , ", "Give at least one email address."),
        ("slack", "ftp://hooks.example/x", "Give the webhook&#x27;s http(s) URL."),
        ("webhook", "hooks.example/x", "Give the webhook&#x27;s http(s) URL."),
    ],
)
def test_a_channel_with_a_bad_target_is_refused(client, admin_user, kind, target, error):
    client.force_login(admin_user)
    data = {"name": "bad", "kind": kind, "target": target, "enabled": "on", "rate_limit_per_minute": "10"}

    response = client.post(reverse("admin:notifications_channel_add"), data)

    assert error in response.content.decode()
    assert not Channel.objects.exists() and not AuditLog.objects.exists()


def test_an_admin_sets_up_notifications_and_a_risk_manager_reads_the_deliveries(client, account):
    admin = UserFactory(username="desk-admin", roles=[Role.ADMIN])
    risk_manager = UserFactory(username="rm", roles=[Role.RISK_MANAGER], accounts=[account])

    assert admin.has_perm("notifications.add_channel") and admin.has_perm("notifications.change_rule")
    assert risk_manager.has_perm("notifications.view_delivery")
    assert not risk_manager.has_perm("notifications.view_channel")
    client.force_login(risk_manager)
    assert client.get(DELIVERIES_URL).status_code == 200
    assert client.get(CHANNELS_URL).status_code == 403


@pytest.mark.parametrize("model", ["channel", "rule", "userpreference", "delivery"])
def test_each_notifications_page_opens_for_an_admin(client, admin_user, model):
    ChannelFactory(name="hook")
    client.force_login(admin_user)

    assert client.get(reverse(f"admin:notifications_{model}_changelist")).status_code == 200
    if model != "delivery":
        assert client.get(reverse(f"admin:notifications_{model}_add")).status_code == 200


def test_a_preference_saved_in_the_admin_is_audited(client, admin_user):
    person = UserFactory(username="sleeper", email="sleeper@desk.example")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:notifications_userpreference_add"),
        {
            "user": person.pk,
            "email": "pager@desk.example",
            "enabled": "on",
            "min_severity": "warning",
            "muted_kinds": "stream.*",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
    )

    assert response.status_code == 302
    preference = person.notification_preference
    assert (preference.email, preference.muted_patterns, str(preference.quiet_start)) == (
        "pager@desk.example",
        ["stream.*"],
        "22:00:00",
    )
    audit = AuditLog.objects.get(action="userpreference.create")
    assert (audit.actor, audit.after["user"], audit.after["quiet_end"]) == (admin_user, person.pk, "07:00:00")
