"""Notification content on Slack, Teams and e-mail, built from the event's payload."""

from __future__ import annotations

from datetime import UTC, datetime

from opsdesk.notifications.channels import (
    compose_message,
    email_message,
    email_text,
    notification_message_id,
    slack_body,
    teams_body,
)
from opsdesk.settings import Settings

BASE = "https://desk.example"


def test_breach_message() -> None:
    message = compose_message(
        "sla.breached",
        {
            "reference": "SR-000042",
            "metric": "first_response",
            "due_at": "2026-03-10T10:00:00+00:00",
            "priority": "high",
        },
        base_url=BASE,
    )

    assert message.title == "SLA breached on SR-000042"
    assert message.text == "The first response target was due 2026-03-10T10:00:00+00:00."
    assert message.ticket_url == "https://desk.example/console/tickets/SR-000042"
    assert ("Priority", "high") in message.facts
    assert message.acknowledge_url is None


def test_rule_message_lists_outcomes() -> None:
    message = compose_message(
        "automation.rule_ran",
        {
            "reference": "SR-000042",
            "name": "Tag VIP",
            "trigger": "ticket.created",
            "outcomes": ["tag vip added", "notified 2 user(s)"],
        },
        base_url=BASE,
    )

    assert message.title == "Rule Tag VIP ran on SR-000042"
    assert message.text == "tag vip added; notified 2 user(s)"
    assert ("Trigger", "ticket.created") in message.facts


def test_slack_escapes_user_text() -> None:
    message = compose_message(
        "escalation.triggered",
        {"reference": "SR-000001", "name": "<!channel> now", "summary": "a & b <@U123>"},
        base_url=BASE,
    )

    text = slack_body(message)["text"]

    assert "<!channel>" not in text
    assert "&lt;!channel&gt; now" in text
    assert "a &amp; b &lt;@U123&gt;" in text


def test_teams_card_without_links() -> None:
    message = compose_message("task.completed", {}, base_url=BASE)

    body = teams_body(message)

    card = body["attachments"][0]["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.2"
    assert "actions" not in card
    assert [block["type"] for block in card["body"]] == ["TextBlock", "TextBlock"]
    assert body["attachments"][0]["contentUrl"] is None


def test_email_text_links_preferences() -> None:
    message = compose_message(
        "escalation.triggered",
        {
            "reference": "SR-000001",
            "name": "Boss",
            "summary": "done",
            "acknowledge_url": "https://desk.example/ack/t",
        },
        base_url=BASE,
    )

    text = email_text(message, preferences_url="https://desk.example/prefs")

    assert text.startswith("Escalation Boss ran on SR-000001\n\ndone\n")
    assert "Acknowledge: https://desk.example/ack/t\n" in text
    assert text.endswith("https://desk.example/prefs\n")


def test_email_headers() -> None:
    settings = Settings(
        base_url=BASE, mail_from="Desk <desk@example.com>", mail_reply_to="help@example.com"
    )
    message = compose_message("sla.warning", {"reference": "SR-000007"}, base_url=BASE)
    message_id = notification_message_id(settings, delivery_id=12, event_id="evt_1")

    mail = email_message(
        settings,
        message,
        recipient="boss@example.com",
        message_id=message_id,
        at=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
    )

    assert message_id == "<notification.12.evt_1@example.com>"
    assert mail["Message-ID"] == message_id
    assert mail["Subject"] == "SLA warning on SR-000007"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Reply-To"] == "help@example.com"
