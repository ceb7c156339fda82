"""What a notification says, in each channel's format: a plain text email, signed JSON, Slack blocks, a Teams card.

One ``Notice`` (the alert and the event) is rendered by each function here; the transports in
``notifications.transport`` only carry the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.models import Alert

EVENT_WORDS = {
    "raised": "Alert",
    "worsened": "Alert worse",
    "recovered": "Recovered",
    "escalated": "Not acknowledged",
    "test": "Test",
}


@dataclass(frozen=True)
class Notice:
    """One thing to tell: ``event`` (raised, worsened, recovered, escalated, test) about ``alert`` (None for a test)."""

    event: str
    alert: Alert | None
    at: datetime

    @property
    def title(self) -> str:
        if self.alert is None:
            return "tradeconsole: test notification"
        return f"[{self.alert.severity.upper()}] {EVENT_WORDS[self.event]}: {self.alert.message}"[:150]

    @property
    def facts(self) -> list[tuple[str, str]]:
        if self.alert is None:
            return [("Sent at", self.at.isoformat())]
        alert = self.alert
        facts = [
            ("Event", self.event),
            ("Kind", alert.kind),
            ("Severity", alert.severity),
            ("Status", alert.status),
            ("Account", alert.account.code if alert.account_id else "desk-wide"),
            ("Key", alert.key),
            ("Raised at", alert.raised_at.isoformat()),
        ]
        if self.event == "recovered" and alert.resolved_at:
            facts.append(("Resolved at", alert.resolved_at.isoformat()))
        return facts

    @property
    def text(self) -> str:
        if self.alert is None:
            return "A test notification from the desk: this channel works."
        if self.event == "recovered":
            return f"Recovered: {self.alert.message}"
        if self.event == "escalated":
            return f"Nobody has acknowledged this critical alert: {self.alert.message}"
        return self.alert.message


def notice(event: str, alert: Alert | None = None) -> Notice:
    """The notice of ``event`` about ``alert`` as of now."""
    return Notice(event=event, alert=alert, at=timezone.now())


def email_body(item: Notice) -> tuple[str, str]:
    """Return the subject and plain-text body of the email of ``item``."""
    lines = [item.text, ""] + [f"{name}: {value}" for name, value in item.facts]
    return item.title, "\n".join(lines) + "\n"


def webhook_payload(item: Notice, *, delivery_id: int | None = None) -> dict:
    """The generic webhook's JSON object: the event, the alert's fields, when it was sent."""
    alert = item.alert
    return {
        "event": item.event,
        "delivery": delivery_id,
        "sent_at": item.at.isoformat(),
        "title": item.title,
        "text": item.text,
        "alert": None
        if alert is None
        else {
            "id": alert.pk,
            "key": alert.key,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "account": alert.account.code if alert.account_id else None,
            "message": alert.message,
            "data": alert.data,
            "raised_at": alert.raised_at.isoformat(),
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }


def slack_payload(item: Notice) -> dict:
    """A Slack incoming-webhook message: ``text`` (the notification's line) and Block Kit blocks."""
    facts = "\n".join(f"*{name}:* {_slack_escape(value)}" for name, value in item.facts)
    return {
        "text": _slack_escape(item.title),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": item.title, "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(item.text)[:3000]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts[:3000]}},
        ],
    }


def teams_payload(item: Notice) -> dict:
    """A Microsoft Teams incoming-webhook message: one Adaptive Card (what Workflows webhooks accept)."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": item.title,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                            "color": _COLOURS[_colour(item)],
                        },
                        {"type": "TextBlock", "text": item.text, "wrap": True},
                        {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in item.facts]},
                    ],
                },
            }
        ],
    }


_COLOURS = {"info": "Default", "warning": "Warning", "critical": "Attention", "recovered": "Good"}


def _colour(item: Notice) -> str:
    if item.alert is None:
        return "info"
    return "recovered" if item.event == "recovered" else item.alert.severity


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (links, mentions): escaped, an alert cannot ping @channel.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
