"""Routing rules, people's preferences, deduplication (one message per open alert, one "recovered") and
escalation of critical alerts nobody acknowledged, through the real path: the alert services, their
announcement on commit, the Celery tasks, a real HTTP sink and SMTP server."""

from __future__ import annotations

from datetime import time

import pytest
import time_machine
from django.contrib.auth.models import Group

from accounts.models import Alert, Role
from accounts.services import alert_acknowledge, alert_raise, alert_resolve
from accounts.tests.factories import UserFactory
from notifications.models import Channel, Delivery
from notifications.tasks import follow_up_run
from notifications.tests.factories import ChannelFactory, RuleFactory, UserPreferenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks, eager):
    """Call a service and run what its commit triggers (announcements, then the Celery tasks)."""

    def call(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return call


@pytest.fixture
def hook(http_sink):
    """A webhook channel posting to the sink."""
    return ChannelFactory(name="ops hook", target=http_sink.url)


def events(sink) -> list[tuple[str, str]]:
    return [(request.json["event"], request.json["alert"]["key"]) for request in sink.requests]


def critical(run, key="gateway.disconnected", **kwargs) -> Alert:
    kwargs.setdefault("kind", key.split(":")[0])
    kwargs.setdefault("severity", Alert.Severity.CRITICAL)
    return run(alert_raise, key=key, message=f"{key} happened", **kwargs)


def test_raising_the_same_key_again_sends_nothing_more(run, hook, http_sink):
    RuleFactory(channels=[hook])

    first = critical(run)
    again = critical(run)

    assert again.pk == first.pk
    assert events(http_sink) == [("raised", "gateway.disconnected")]
    assert Delivery.objects.count() == 1


def test_a_resolved_alert_sends_recovered_once_and_a_new_alert_of_the_key_is_raised_again(run, hook, http_sink):
    RuleFactory(channels=[hook])
    alert = critical(run)

    run(alert_resolve, key="gateway.disconnected")
    run(alert_resolve, key="gateway.disconnected")
    critical(run)

    assert events(http_sink) == [
        ("raised", "gateway.disconnected"),
        ("recovered", "gateway.disconnected"),
        ("raised", "gateway.disconnected"),
    ]
    recovered = http_sink.requests[1].json
    assert recovered["alert"]["id"] == alert.pk and recovered["alert"]["status"] == "resolved"
    assert recovered["text"] == "Recovered: gateway.disconnected happened"


def test_a_renewal_at_a_higher_severity_is_told_as_worse_and_one_at_the_same_severity_is_not(run, hook, http_sink):
    RuleFactory(channels=[hook], min_severity=Alert.Severity.WARNING)
    critical(run, key="stream.dead_letters", severity=Alert.Severity.WARNING)

    critical(run, key="stream.dead_letters", severity=Alert.Severity.WARNING, renew=True)
    critical(run, key="stream.dead_letters", severity=Alert.Severity.CRITICAL, renew=True)
    critical(run, key="stream.dead_letters", severity=Alert.Severity.CRITICAL, renew=True)

    assert [event for event, _ in events(http_sink)] == ["raised", "worsened"]
    assert http_sink.requests[1].json["alert"]["severity"] == "critical"


def test_rules_route_by_severity_kind_and_account(run, http_sink, account, other_account):
    warnings = ChannelFactory(name="warnings", target=f"{http_sink.url}/warnings")
    gateway = ChannelFactory(name="gateway", target=f"{http_sink.url}/gateway")
    first_account = ChannelFactory(name="first account", target=f"{http_sink.url}/first")
    RuleFactory(min_severity=Alert.Severity.WARNING, channels=[warnings])
    RuleFactory(min_severity=Alert.Severity.INFO, kinds="gateway.*, worker.heartbeat", channels=[gateway])
    RuleFactory(min_severity=Alert.Severity.INFO, account=account, channels=[first_account])

    critical(run, key="gateway.disconnected", severity=Alert.Severity.INFO)
    critical(run, key="position.mismatch:1", severity=Alert.Severity.WARNING, account=account)
    critical(run, key="position.mismatch:2", severity=Alert.Severity.WARNING, account=other_account)
    critical(run, key="worker.heartbeat", severity=Alert.Severity.CRITICAL, account=other_account)

    heard = sorted((request.path, request.json["alert"]["key"]) for request in http_sink.requests)
    assert heard == [
        ("/hook/first", "position.mismatch:1"),
        ("/hook/gateway", "gateway.disconnected"),
        ("/hook/gateway", "worker.heartbeat"),
        ("/hook/warnings", "position.mismatch:1"),
        ("/hook/warnings", "position.mismatch:2"),
        ("/hook/warnings", "worker.heartbeat"),
    ]


def test_a_disabled_rule_or_channel_sends_nothing(run, http_sink):
    RuleFactory(enabled=False, channels=[ChannelFactory(target=http_sink.url)])
    RuleFactory(channels=[ChannelFactory(target=http_sink.url, enabled=False)])

    critical(run)

    assert http_sink.requests == [] and not Delivery.objects.exists()


def test_two_rules_naming_the_same_channel_and_person_send_each_one_message(run, hook, http_sink, smtp_server):
    person = UserFactory(username="ops", email="ops@desk.example")
    RuleFactory(channels=[hook], users=[person])
    RuleFactory(channels=[hook], users=[person], kinds="gateway.*")

    critical(run)

    assert len(http_sink.requests) == 1
    assert [recipients for recipients, _ in smtp_server.messages] == [["ops@desk.example"]]


def test_rules_email_their_users_and_the_members_of_their_groups(run, smtp_server, account):
    risk = Group.objects.get(name=Role.RISK_MANAGER)
    UserFactory(username="rm", email="rm@desk.example", roles=[Role.RISK_MANAGER], accounts=[account])
    UserFactory(username="gone", email="gone@desk.example", roles=[Role.RISK_MANAGER], is_active=False)
    named = UserFactory(username="named", email="named@desk.example")
    UserFactory(username="other", email="other@desk.example", roles=[Role.TRADER])
    RuleFactory(users=[named], groups=[risk])

    alert = critical(run)

    assert sorted(recipients[0] for recipients, _ in smtp_server.messages) == ["named@desk.example", "rm@desk.example"]
    deliveries = Delivery.objects.filter(alert=alert)
    assert {(d.user.username, d.channel) for d in deliveries} == {("named", None), ("rm", None)}
    assert {d.status for d in deliveries} == {Delivery.Status.SENT}


def test_preferences_give_the_address_and_mute_kinds_and_severities(run, smtp_server):
    elsewhere = UserFactory(username="elsewhere", email="desk@desk.example")
    UserPreferenceFactory(user=elsewhere, email="pager@desk.example")
    muted = UserFactory(username="muted", email="muted@desk.example")
    UserPreferenceFactory(user=muted, muted_kinds="gateway.*")
    serious = UserFactory(username="serious", email="serious@desk.example")
    UserPreferenceFactory(user=serious, min_severity=Alert.Severity.CRITICAL)
    off = UserFactory(username="off", email="off@desk.example")
    UserPreferenceFactory(user=off, enabled=False)
    RuleFactory(users=[elsewhere, muted, serious, off], min_severity=Alert.Severity.INFO)

    critical(run, key="gateway.disconnected", severity=Alert.Severity.CRITICAL)
    critical(run, key="stream.dead_letters", severity=Alert.Severity.WARNING)

    received = sorted((rcpt[0], message["Subject"]) for rcpt, message in smtp_server.messages)
    assert received == [
        ("muted@desk.example", "[WARNING] Alert: stream.dead_letters happened"),
        ("pager@desk.example", "[CRITICAL] Alert: gateway.disconnected happened"),
        ("pager@desk.example", "[WARNING] Alert: stream.dead_letters happened"),
        ("serious@desk.example", "[CRITICAL] Alert: gateway.disconnected happened"),
    ]


@pytest.mark.parametrize(
    ("desk_time", "told"),
    [
        ("2026-12-07T23:30:00-05:00", ["[CRITICAL]"]),  # quiet hours (22:00-07:00 desk time): critical only
        ("2026-12-08T06:59:00-05:00", ["[CRITICAL]"]),
        ("2026-12-08T07:00:00-05:00", ["[CRITICAL]", "[WARNING]"]),
        ("2026-12-07T12:00:00-05:00", ["[CRITICAL]", "[WARNING]"]),
    ],
)
def test_quiet_hours_let_only_critical_alerts_through(run, smtp_server, desk_time, told):
    sleeper = UserFactory(username="sleeper", email="sleeper@desk.example")
    UserPreferenceFactory(user=sleeper, quiet_start=time(22, 0), quiet_end=time(7, 0))
    RuleFactory(users=[sleeper], min_severity=Alert.Severity.INFO)

    with time_machine.travel(desk_time, tick=False):
        critical(run, key="gateway.disconnected", severity=Alert.Severity.CRITICAL)
        critical(run, key="stream.dead_letters", severity=Alert.Severity.WARNING)

    assert sorted(message["Subject"].split()[0] for _, message in smtp_server.messages) == told


def test_an_alert_resolved_before_it_was_told_sends_nothing(eager, hook, http_sink, django_capture_on_commit_callbacks):
    RuleFactory(channels=[hook])

    # Raised and resolved in one transaction: the one announcement finds it resolved.
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(key="flap", kind="flap", message="flapping", severity=Alert.Severity.CRITICAL)
        alert_resolve(key="flap")

    assert http_sink.requests == []


class TestEscalation:
    @pytest.fixture
    def pager(self, http_sink):
        return ChannelFactory(name="pager", kind=Channel.Kind.WEBHOOK, target=f"{http_sink.url}/pager")

    @pytest.fixture
    def rule(self, hook, pager):
        return RuleFactory(channels=[hook], escalate_after_minutes=5, escalation_channels=[pager])

    def test_a_critical_alert_nobody_acknowledged_is_escalated_once_after_n_minutes(
        self, run, rule, http_sink, eager, time_machine
    ):
        time_machine.move_to("2026-12-07T15:00:00+00:00", tick=False)
        critical(run)

        time_machine.move_to("2026-12-07T15:04:59+00:00", tick=False)
        assert run(follow_up_run) == 0
        time_machine.move_to("2026-12-07T15:05:00+00:00", tick=False)
        assert run(follow_up_run) == 1
        time_machine.move_to("2026-12-07T15:06:00+00:00", tick=False)
        assert run(follow_up_run) == 0

        assert [(request.path, request.json["event"]) for request in http_sink.requests] == [
            ("/hook", "raised"),
            ("/hook/pager", "escalated"),
        ]
        assert (
            http_sink.requests[1].json["text"]
            == "Nobody has acknowledged this critical alert: gateway.disconnected happened"
        )

    def test_an_acknowledged_or_resolved_alert_is_not_escalated(self, run, rule, http_sink, time_machine):
        time_machine.move_to("2026-12-07T15:00:00+00:00", tick=False)
        acknowledged = critical(run, key="gateway.disconnected")
        critical(run, key="worker.heartbeat")
        run(alert_acknowledge, alert=acknowledged, actor=None, via="test")
        run(alert_resolve, key="worker.heartbeat")

        time_machine.move_to("2026-12-07T16:00:00+00:00", tick=False)
        assert run(follow_up_run) == 0
        assert "escalated" not in [request.json["event"] for request in http_sink.requests]

    def test_a_warning_is_not_escalated_until_it_becomes_critical_and_then_counts_from_there(
        self, run, rule, http_sink, time_machine
    ):
        time_machine.move_to("2026-12-07T15:00:00+00:00", tick=False)
        critical(run, key="stream.dead_letters", severity=Alert.Severity.WARNING)
        time_machine.move_to("2026-12-07T15:30:00+00:00", tick=False)
        assert run(follow_up_run) == 0
        critical(run, key="stream.dead_letters", severity=Alert.Severity.CRITICAL, renew=True)

        time_machine.move_to("2026-12-07T15:34:00+00:00", tick=False)
        assert run(follow_up_run) == 0
        time_machine.move_to("2026-12-07T15:35:00+00:00", tick=False)
        assert run(follow_up_run) == 1

    def test_escalation_emails_the_rule_s_escalation_users(self, run, hook, smtp_server, time_machine):
        duty = UserFactory(username="duty", email="duty@desk.example")
        rule = RuleFactory(channels=[hook], escalate_after_minutes=1)
        rule.escalation_users.set([duty])
        time_machine.move_to("2026-12-07T15:00:00+00:00", tick=False)
        critical(run)

        time_machine.move_to("2026-12-07T15:01:00+00:00", tick=False)
        assert run(follow_up_run) == 1

        [(recipients, message)] = smtp_server.messages
        assert recipients == ["duty@desk.example"]
        assert message["Subject"] == "[CRITICAL] Not acknowledged: gateway.disconnected happened"
        delivery = Delivery.objects.get(event=Delivery.Event.ESCALATED)
        assert (delivery.user, delivery.rule, delivery.status) == (duty, rule, Delivery.Status.SENT)


@pytest.mark.django_db(transaction=True)
def test_an_alert_is_told_only_once_its_transaction_commits(eager, http_sink):
    from django.db import transaction

    RuleFactory(channels=[ChannelFactory(target=http_sink.url)])

    with transaction.atomic():
        alert_raise(key="gateway.disconnected", kind="gateway", message="down", severity=Alert.Severity.CRITICAL)
        assert http_sink.requests == []  # not before the commit
    assert [request.json["event"] for request in http_sink.requests] == ["raised"]

    with pytest.raises(RuntimeError), transaction.atomic():
        alert_raise(key="worker.heartbeat", kind="worker", message="late", severity=Alert.Severity.CRITICAL)
        raise RuntimeError("rolled back")
    assert len(http_sink.requests) == 1  # a rolled-back alert is never told


def test_beat_follows_up_every_minute():
    from tradeconsole.celery import app

    assert app.conf.beat_schedule["notifications-follow-up"] == {
        "task": "notifications.tasks.follow_up_run",
        "schedule": 60,
        "options": {"expires": 60},
    }


def test_the_follow_up_tells_what_a_lost_announcement_missed_once(run, hook, http_sink, time_machine):
    from accounts.announce import changed
    from notifications.receivers import on_changed

    RuleFactory(channels=[hook])
    time_machine.move_to("2026-12-07T09:00:00+00:00", tick=False)
    old = critical(run, key="before.setup")  # told as it happened
    http_sink.requests.clear()
    time_machine.move_to("2026-12-07T15:00:00+00:00", tick=False)
    changed.disconnect(on_changed, dispatch_uid="notifications.receivers.on_changed")
    try:
        lost = critical(run, key="gateway.disconnected")
        run(alert_resolve, alert=old)
    finally:
        changed.connect(on_changed, dispatch_uid="notifications.receivers.on_changed")
    assert http_sink.requests == []

    assert run(follow_up_run) == 0  # a minute for the announcement to arrive first
    time_machine.move_to("2026-12-07T15:01:00+00:00", tick=False)
    assert run(follow_up_run) == 2
    assert run(follow_up_run) == 0

    assert sorted((request.json["event"], request.json["alert"]["id"]) for request in http_sink.requests) == sorted(
        [("raised", lost.pk), ("recovered", old.pk)]
    )
