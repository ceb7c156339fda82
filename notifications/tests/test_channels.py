"""Each channel against a real local server: SMTP (aiosmtpd) and webhooks (an HTTP sink), with retries,
permanent failures and the rate limit, all recorded on the delivery."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from accounts.models import Alert
from accounts.services import alert_raise
from notifications.models import Channel, Delivery
from notifications.tests.factories import ChannelFactory, RuleFactory
from notifications.transport import SIGNATURE_HEADER, TIMESTAMP_HEADER

pytestmark = pytest.mark.django_db


def raise_alert(capture, **kwargs) -> Alert:
    """Raise an alert as the desk does and run what its commit triggers (the announcement, Celery)."""
    kwargs.setdefault("key", "gateway.disconnected")
    kwargs.setdefault("kind", "gateway.disconnected")
    kwargs.setdefault("message", "The gateway is disconnected")
    kwargs.setdefault("severity", Alert.Severity.CRITICAL)
    with capture(execute=True):
        return alert_raise(**kwargs)


def test_an_email_channel_mails_every_address_through_the_smtp_server(
    eager, smtp_server, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(kind=Channel.Kind.EMAIL, target="ops@desk.example, risk@desk.example")
    RuleFactory(channels=[channel])

    alert = raise_alert(django_capture_on_commit_callbacks)

    [(recipients, message)] = smtp_server.messages
    assert sorted(recipients) == ["ops@desk.example", "risk@desk.example"]
    assert message["Subject"] == "[CRITICAL] Alert: The gateway is disconnected"
    assert message["From"] == "desk@tradeconsole.test"
    body = message.get_payload(decode=True).decode()
    assert "Kind: gateway.disconnected" in body and "Account: desk-wide" in body
    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.status, delivery.event, delivery.attempts) == (Delivery.Status.SENT, "raised", 1)
    assert delivery.sent_at is not None


def test_a_webhook_posts_the_alert_as_json_signed_with_the_channel_secret(
    eager, http_sink, account, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(kind=Channel.Kind.WEBHOOK, target=http_sink.url, secret="topsecret")
    RuleFactory(channels=[channel])

    alert = raise_alert(django_capture_on_commit_callbacks, account=account, data={"lag": 12})

    [request] = http_sink.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers[TIMESTAMP_HEADER]
    expected = hmac.new(b"topsecret", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    payload = request.json
    assert payload["event"] == "raised"
    assert payload["delivery"] == Delivery.objects.get(alert=alert).pk
    assert payload["alert"] | {"raised_at": None} == {
        "id": alert.pk,
        "key": "gateway.disconnected",
        "kind": "gateway.disconnected",
        "severity": "critical",
        "status": "open",
        "account": "DU0000001",
        "message": "The gateway is disconnected",
        "data": {"lag": 12},
        "raised_at": None,
        "acknowledged_at": None,
        "resolved_at": None,
    }


def test_a_signature_made_with_another_secret_does_not_match(eager, http_sink, django_capture_on_commit_callbacks):
    RuleFactory(channels=[ChannelFactory(target=http_sink.url, secret="right")])

    raise_alert(django_capture_on_commit_callbacks)

    [request] = http_sink.requests
    forged = hmac.new(b"wrong", f"{request.headers[TIMESTAMP_HEADER]}.".encode() + request.body, hashlib.sha256)
    assert request.headers[SIGNATURE_HEADER] != f"sha256={forged.hexdigest()}"


def test_a_slack_channel_posts_text_and_blocks(eager, http_sink, django_capture_on_commit_callbacks):
    RuleFactory(channels=[ChannelFactory(kind=Channel.Kind.SLACK, target=http_sink.url, secret="")])

    raise_alert(django_capture_on_commit_callbacks, message="Dead letters <!channel> & more")

    [request] = http_sink.requests
    payload = request.json
    assert SIGNATURE_HEADER not in request.headers
    # Escaped where Slack reads markup, an alert's message cannot mention @channel.
    assert payload["text"] == "[CRITICAL] Alert: Dead letters &lt;!channel&gt; &amp; more"
    header, text, facts = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[CRITICAL] Alert: Dead letters <!channel> & more", "emoji": False},
    }
    assert text["text"] == {"type": "mrkdwn", "text": "Dead letters &lt;!channel&gt; &amp; more"}
    assert "*Severity:* critical" in facts["text"]["text"]


def test_a_teams_channel_posts_one_adaptive_card(eager, http_sink, django_capture_on_commit_callbacks):
    RuleFactory(channels=[ChannelFactory(kind=Channel.Kind.TEAMS, target=http_sink.url, secret="")])

    raise_alert(django_capture_on_commit_callbacks)

    payload = http_sink.requests[0].json
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts = card["body"]
    assert title["text"] == "[CRITICAL] Alert: The gateway is disconnected"
    assert title["color"] == "Attention"
    assert text["text"] == "The gateway is disconnected"
    assert {"title": "Kind", "value": "gateway.disconnected"} in facts["facts"]


def test_a_failing_webhook_is_retried_with_each_attempt_recorded_until_it_takes_the_message(
    eager, http_sink, fast_retries, django_capture_on_commit_callbacks
):
    http_sink.answer(500, 503)
    RuleFactory(channels=[ChannelFactory(target=http_sink.url)])

    alert = raise_alert(django_capture_on_commit_callbacks)

    assert len(http_sink.requests) == 3
    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Delivery.Status.SENT, 3, "")
    assert [error["error"] for error in delivery.errors] == ["HTTP 500: sink says no", "HTTP 503: sink says no"]
    assert [error["attempt"] for error in delivery.errors] == [1, 2]


def test_a_webhook_failing_past_the_retries_is_recorded_as_failed(
    eager, http_sink, fast_retries, django_capture_on_commit_callbacks
):
    http_sink.answer(500, 500, 500, 500)
    RuleFactory(channels=[ChannelFactory(target=http_sink.url)])

    alert = raise_alert(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get(alert=alert)
    assert len(http_sink.requests) == 3  # the first attempt and two retries
    assert (delivery.status, delivery.attempts, len(delivery.errors)) == (Delivery.Status.FAILED, 3, 3)
    assert delivery.last_error == "HTTP 500: sink says no"


def test_a_webhook_that_refuses_the_message_is_not_retried(
    eager, http_sink, fast_retries, django_capture_on_commit_callbacks
):
    http_sink.answer(404)
    RuleFactory(channels=[ChannelFactory(target=http_sink.url)])

    alert = raise_alert(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get(alert=alert)
    assert len(http_sink.requests) == 1
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        Delivery.Status.FAILED,
        1,
        "HTTP 404: sink says no",
    )


def test_an_smtp_server_that_cannot_be_reached_is_retried_then_failed(
    eager, settings, fast_retries, django_capture_on_commit_callbacks
):
    from notifications.tests.conftest import free_port

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    RuleFactory(channels=[ChannelFactory(kind=Channel.Kind.EMAIL, target="ops@desk.example")])

    alert = raise_alert(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    assert "ConnectionRefusedError" in delivery.last_error


def test_an_smtp_server_refusing_every_recipient_fails_the_delivery_at_once(
    eager, smtp_server, fast_retries, django_capture_on_commit_callbacks
):
    smtp_server.refuse = True
    RuleFactory(channels=[ChannelFactory(kind=Channel.Kind.EMAIL, target="nobody@desk.example")])

    alert = raise_alert(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 1)
    assert delivery.last_error.startswith("SMTP refused every recipient")
    assert smtp_server.messages == []


def test_past_its_rate_limit_a_channel_records_deliveries_as_rate_limited_and_sends_nothing_more(
    eager, http_sink, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(target=http_sink.url, rate_limit_per_minute=2)
    RuleFactory(channels=[channel])

    for number in range(3):
        raise_alert(django_capture_on_commit_callbacks, key=f"dlq:{number}", kind="stream.dead_letters")

    assert len(http_sink.requests) == 2
    statuses = list(Delivery.objects.filter(channel=channel).order_by("pk").values_list("status", flat=True))
    assert statuses == [Delivery.Status.SENT, Delivery.Status.SENT, Delivery.Status.RATE_LIMITED]
    limited = Delivery.objects.get(status=Delivery.Status.RATE_LIMITED)
    assert limited.last_error == f"{channel.name} sent 2 in the last minute (limit 2)"
    assert limited.attempts == 0


def test_the_rate_limit_counts_one_minute_back(eager, http_sink, django_capture_on_commit_callbacks, time_machine):
    time_machine.move_to("2026-12-07T10:00:00+00:00", tick=False)
    channel = ChannelFactory(target=http_sink.url, rate_limit_per_minute=1)
    RuleFactory(channels=[channel])
    raise_alert(django_capture_on_commit_callbacks, key="one")

    time_machine.move_to("2026-12-07T10:01:01+00:00", tick=False)
    raise_alert(django_capture_on_commit_callbacks, key="two")

    assert len(http_sink.requests) == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_a_webhook_target_that_keeps_failing_opens_its_breaker_and_then_fails_at_once(settings):
    from notifications.exceptions import DeliveryFailed
    from notifications.tests.conftest import free_port
    from notifications.transport import webhook_post
    from tradeconsole import breakers

    settings.BREAKER_FAIL_MAX = 2
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    for _ in range(2):
        with pytest.raises(DeliveryFailed, match="ConnectionError"):
            webhook_post(url=url, payload={"x": 1})
    with pytest.raises(DeliveryFailed, match=r"breaker of 127\.0\.0\.1 is open"):
        webhook_post(url=url, payload={"x": 1})
    assert breakers.breaker("webhook:127.0.0.1").current_state == "open"
