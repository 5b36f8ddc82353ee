"""Inbound webhooks: signed messages from another system create and update tickets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from opsdesk.clock import FrozenClock
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets.models import Ticket
from opsdesk.webhooks.models import InboundEvent
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

API_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECRET = "whsec_" + base64.b64encode(b"monitoring-secret-for-tests-0001").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-for-the-test-0002").decode()
INBOUND_SECTION = """
inbound:
  - key: monitoring
    secret: ${MONITORING_WEBHOOK_SECRET}
    id_field: alert.id
    create:
      service_type: {value: solar_repair}
      contact_method: {value: email}
      priority: {field: alert.severity, map: {critical: urgent, warning: high}, default: medium}
      subject: {field: alert.title}
      description: {field: alert.text}
      name: {value: Monitoring}
      email: {value: monitoring@example.com}
    update:
      status: {field: alert.state, map: {resolved: resolved, firing: open}}
      note: {field: alert.text}
  - key: backups
    secret: ${BACKUP_WEBHOOK_SECRET:-}
    id_field: job.id
    create:
      service_type: {value: solar_repair}
      contact_method: {value: email}
      subject: {field: job.name}
      description: {field: job.log}
      name: {value: Backups}
      email: {value: backups@example.com}
"""


def alert(**changes: Any) -> dict[str, Any]:
    return {
        "alert": {
            "id": "a-100",
            "title": "Inverter offline at site 12",
            "text": "No heartbeat for 10 minutes.",
            "severity": "critical",
            "state": "firing",
        }
        | changes
    }


@pytest.fixture
def workspace() -> Workspace:
    text = EXAMPLE_WORKSPACE.read_text(encoding="utf-8") + INBOUND_SECTION
    return parse_workspace(text, environ={"MONITORING_WEBHOOK_SECRET": SECRET})


def signed_headers(
    body: bytes, *, message_id: str, at: datetime, secret: str = SECRET
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


async def post_inbound(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    body: Any,
    *,
    message_id: str = "msg_1",
    source: str = "monitoring",
) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = signed_headers(raw, message_id=message_id, at=clock.now())
    return await client.post(f"/api/v1/inbound/{source}", content=raw, headers=headers)


async def ticket_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count(Ticket.id))) or 0)


async def event_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count(OutboxEvent.id))) or 0)


async def test_new_alert_creates_ticket(
    client: httpx.AsyncClient, make_user, db: Database, clock: FrozenClock
) -> None:
    agent = await make_user("agent")

    response = await post_inbound(client, clock, alert())

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["outcome"] == "created"
    assert result["external_id"] == "a-100"
    reference = result["reference"]
    assert result["summary"] == f"created {reference}"
    ticket = (await client.get(f"/api/v1/tickets/{reference}", headers=agent.headers)).json()
    assert ticket["channel"] == "inbound"
    assert ticket["external_ref"] == "monitoring:a-100"
    assert ticket["priority"] == "urgent"
    assert ticket["service_type"] == "solar_repair"
    assert ticket["subject"] == "Inverter offline at site 12"
    assert ticket["description"] == "No heartbeat for 10 minutes."
    assert ticket["requester_name"] == "Monitoring"
    assert ticket["requester_email"] == "monitoring@example.com"
    async with db.read() as session:
        [event] = (await session.execute(select(InboundEvent))).scalars().all()
    assert event.source == "monitoring"
    assert event.external_id == "msg_1"
    assert event.outcome == f"created {reference}"
    assert event.ticket_id is not None


async def test_unmapped_severity_takes_default(
    client: httpx.AsyncClient, make_user, clock: FrozenClock
) -> None:
    agent = await make_user("agent")

    response = await post_inbound(client, clock, alert(severity="info"))

    assert response.status_code == 201
    reference = response.json()["reference"]
    ticket = (await client.get(f"/api/v1/tickets/{reference}", headers=agent.headers)).json()
    assert ticket["priority"] == "medium"


async def test_retry_changes_nothing(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    first = await post_inbound(client, clock, alert())
    events = await event_count(db)

    retry = await post_inbound(client, clock, alert())

    assert retry.status_code == 200
    assert retry.json()["outcome"] == "duplicate"
    assert retry.json()["reference"] == first.json()["reference"]
    assert retry.json()["summary"] == first.json()["summary"]
    assert await ticket_count(db) == 1
    assert await event_count(db) == events
    async with db.read() as session:
        assert await session.scalar(select(func.count(InboundEvent.id))) == 1


async def test_later_message_updates_ticket(
    client: httpx.AsyncClient, make_user, db: Database, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    created = await post_inbound(client, clock, alert())
    reference = created.json()["reference"]
    resolved = alert(state="resolved", text="Heartbeat is back.")

    response = await post_inbound(client, clock, resolved, message_id="msg_2")
    retry = await post_inbound(client, clock, resolved, message_id="msg_2")

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "updated"
    assert result["reference"] == reference
    assert result["changes"] == ["note added", "status resolved"]
    assert retry.json()["outcome"] == "duplicate"
    ticket = (await client.get(f"/api/v1/tickets/{reference}", headers=agent.headers)).json()
    assert ticket["status"] == "resolved"
    notes = [message["body"] for message in ticket["messages"] if not message["public"]]
    assert notes == ["Heartbeat is back."]
    assert await ticket_count(db) == 1


async def test_other_alert_gets_own_ticket(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    first = await post_inbound(client, clock, alert())

    second = await post_inbound(client, clock, alert(id="a-200"), message_id="msg_2")

    assert second.status_code == 201
    assert second.json()["reference"] != first.json()["reference"]
    assert await ticket_count(db) == 2


async def test_closed_ticket_ignored(
    client: httpx.AsyncClient, make_user, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    created = await post_inbound(client, clock, alert())
    reference = created.json()["reference"]
    closed = await client.patch(
        f"/api/v1/tickets/{reference}", json={"status": "closed"}, headers=agent.headers
    )
    assert closed.status_code == 200

    response = await post_inbound(client, clock, alert(state="firing"), message_id="msg_2")

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert response.json()["summary"] == f"ignored: {reference} is closed"


async def test_unknown_source_not_found(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    response = await post_inbound(client, clock, alert(), source="pager")

    assert response.status_code == 404
    assert "inbound source 'pager' not found" in response.json()["error"]["message"]


async def test_source_without_secret_disabled(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    response = await post_inbound(client, clock, {"job": {"id": "j-1"}}, source="backups")

    assert response.status_code == 404
    assert "BACKUP_WEBHOOK_SECRET is not set" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no_headers", "missing webhook-id, webhook-timestamp, webhook-signature header(s)"),
        ("no_signature", "missing webhook-signature header(s)"),
        ("other_secret", "no valid signature"),
        ("tampered", "no valid signature"),
        ("old", "is 301 s away from the server clock; at most 300 s are accepted"),
        ("future", "is 400 s away from the server clock"),
        ("bad_timestamp", "invalid webhook-timestamp"),
    ],
)
async def test_bad_signature_rejected(
    change: str, expected: str, client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    raw = json.dumps(alert()).encode()
    at = clock.now()
    secret = OTHER_SECRET if change == "other_secret" else SECRET
    if change == "old":
        at -= timedelta(seconds=301)
    if change == "future":
        at += timedelta(seconds=400)
    headers = signed_headers(raw, message_id="msg_1", at=at, secret=secret)
    if change == "no_headers":
        headers = {"content-type": "application/json"}
    if change == "no_signature":
        del headers["webhook-signature"]
    if change == "tampered":
        raw = raw.replace(b"site 12", b"site 13")
    if change == "bad_timestamp":
        headers["webhook-timestamp"] = "yesterday"

    response = await client.post("/api/v1/inbound/monitoring", content=raw, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert expected in response.json()["error"]["message"]
    assert await ticket_count(db) == 0


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"alert": {"title": "t", "text": "x"}}, "alert.id", "missing in the request body"),
        (alert(title=None), "alert.title", "missing in the request body"),
        (alert(title={"en": "t"}), "alert.title", "is an object"),
        (alert(id="x" * 95), "alert.id", "must have 1 to 89 characters"),
    ],
)
async def test_create_mapping_error_names_path(
    body: dict[str, Any],
    path: str,
    message: str,
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
) -> None:
    response = await post_inbound(client, clock, body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["fields"][0]["field"] == path
    assert message in error["fields"][0]["message"]
    assert await ticket_count(db) == 0
    async with db.read() as session:
        assert await session.scalar(select(func.count(InboundEvent.id))) == 0


async def test_unmapped_update_value_rejected(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    await post_inbound(client, clock, alert())

    response = await post_inbound(client, clock, alert(state="acknowledged"), message_id="msg_2")

    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "alert.state"
    assert "'acknowledged' is not in the map ('resolved', 'firing')" in field["message"]
    async with db.read() as session:
        assert await session.scalar(select(func.count(InboundEvent.id))) == 1


async def test_invalid_json_rejected(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    raw = b'{"alert": '
    headers = signed_headers(raw, message_id="msg_1", at=clock.now())

    response = await client.post("/api/v1/inbound/monitoring", content=raw, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_list_body_rejected(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    response = await post_inbound(client, clock, [alert()])

    assert response.status_code == 422
    assert "JSON object" in response.json()["error"]["message"]


async def test_large_body_rejected(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    response = await post_inbound(client, clock, alert(text="x" * 70_000))

    assert response.status_code == 413
    assert await ticket_count(db) == 0


async def test_reused_webhook_id_conflicts(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    await post_inbound(client, clock, alert())

    response = await post_inbound(client, clock, alert(id="a-200"))

    assert response.status_code == 409
    assert "webhook-id msg_1 was already used" in response.json()["error"]["message"]
    assert await ticket_count(db) == 1


async def test_simultaneous_messages_one_ticket(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    responses = await asyncio.gather(
        *(post_inbound(client, clock, alert(), message_id=f"msg_{number}") for number in range(4))
    )

    assert all(response.status_code in (200, 201) for response in responses)
    outcomes = sorted(response.json()["outcome"] for response in responses)
    assert outcomes.count("created") == 1
    assert len({response.json()["reference"] for response in responses}) == 1
    assert await ticket_count(db) == 1


# --- copied from docs/api.md: start ---
def signed_request(secret: str, webhook_id: str, event: dict[str, Any]) -> tuple[bytes, dict]:
    """Return the body and headers that send `event` to Opsdesk, signed with `secret`."""
    body = json.dumps(event).encode()
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }
    return body, headers


# --- copied from docs/api.md: end ---


async def test_guide_sender_example_accepted(client: httpx.AsyncClient) -> None:
    body, headers = signed_request(SECRET, "msg_guide_1", alert())

    response = await client.post("/api/v1/inbound/monitoring", content=body, headers=headers)

    assert response.status_code == 201, response.text
    assert API_GUIDE.read_text(encoding="utf-8").count(inspect.getsource(signed_request)) == 1
