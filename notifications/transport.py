"""How a message leaves the desk: SMTP through Django's email backend, webhooks over HTTP with ``requests``.

A webhook body is signed: ``X-Tradeconsole-Timestamp`` carries the Unix time in seconds and
``X-Tradeconsole-Signature`` is ``sha256=`` followed by the hex HMAC-SHA256, keyed with the
channel's secret, of ``<timestamp>.`` followed by the raw body. A receiver recomputes it and
refuses a stale timestamp, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from notifications.exceptions import DeliveryFailed
from tradeconsole import breakers

SIGNATURE_HEADER = "X-Tradeconsole-Signature"
TIMESTAMP_HEADER = "X-Tradeconsole-Timestamp"
USER_AGENT = "tradeconsole-notifications/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Tradeconsole-Signature`` for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def email_send(*, to: list[str], subject: str, body: str) -> None:
    """Send one plain-text email to ``to`` through the desk's SMTP server (``EMAIL_*`` settings).

    :raises DeliveryFailed: no address, or the server refused or could not be reached; a server
        that refused every recipient is permanent.
    """
    if not to:
        raise DeliveryFailed("no email address to send to", permanent=True)
    connection = get_connection(settings.NOTIFICATIONS_EMAIL_BACKEND, timeout=settings.NOTIFICATIONS_TIMEOUT_SECONDS)
    message = EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=to, connection=connection
    )
    try:
        # A burst of SMTP failures opens the breaker: deliveries then fail at once (and are retried
        # later by Celery) instead of each waiting out the server's timeout.
        sent = breakers.breaker("smtp", exclude=[smtplib.SMTPRecipientsRefused]).call(message.send, fail_silently=False)
    except breakers.BreakerOpen as exc:
        raise DeliveryFailed("SMTP: the breaker is open after repeated failures; retried later") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"SMTP refused every recipient: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP: {type(exc).__name__}: {exc}") from exc
    if not sent:
        raise DeliveryFailed("SMTP: the backend sent nothing")


def webhook_post(*, url: str, payload: dict, secret: str = "") -> int:
    """POST ``payload`` as JSON to ``url``, signed when ``secret`` is given; return the HTTP status.

    :raises DeliveryFailed: no answer, or an answer outside 2xx; a 4xx other than 408 and 429
        is permanent (the target refuses this message, sending it again cannot help).
    """
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret:
        timestamp = int(time.time())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    # One breaker a target host: an unreachable webhook fails fast without holding the others up.
    breaker = breakers.breaker(
        f"webhook:{urlsplit(url).hostname}", exclude=[breakers.availability_errors_only(requests.RequestException)]
    )
    try:
        response = breaker.call(
            requests.post,
            url,
            data=body,
            headers=headers,
            timeout=settings.NOTIFICATIONS_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except breakers.BreakerOpen as exc:
        raise DeliveryFailed(f"HTTP: the breaker of {urlsplit(url).hostname} is open; retried later") from exc
    except requests.RequestException as exc:
        raise DeliveryFailed(f"HTTP: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}", permanent=permanent)
    return response.status_code
