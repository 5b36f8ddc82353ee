"""Subscription conditions, custom headers, payload templates and PATCH, end to end."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from webhook_receiver import (
    Receiver,
    create_subscription,
    list_deliveries,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.webhooks.conditions import event_facts
from opsdesk.webhooks.templates import SAMPLE_DATA

SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"
HOOK_URL = "https://hooks.example.com/opsdesk"


async def post_subscription(
    client: httpx.AsyncClient, auth_headers: dict[str, str], /, **body: Any
) -> httpx.Response:
    return await client.post(SUBSCRIPTIONS, json={"url": HOOK_URL} | body, headers=auth_headers)


def field_names(response: httpx.Response) -> list[str]:
    return [entry["field"] for entry in response.json()["error"].get("fields", [])]


# Conditions


async def test_conditions_filter_deliveries(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    urgent_solar = {
        "all": [
            {"field": "priority", "in": ["urgent"]},
            {"field": "pipeline", "equals": "solar"},
        ]
    }
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        conditions=urgent_solar,
    )
    assert subscription["conditions"] == urgent_solar
    urgent = await submit_request(client, priority="urgent")
    await submit_request(client, priority="low")
    await submit_request(client, priority="urgent", service_type="hvac_repair")

    await run_delivery_jobs(db, ctx, outbound)

    assert len(receiver.requests) == 1
    delivered = json.loads(receiver.requests[0].body)
    assert delivered["data"]["reference"] == urgent["reference"]
    deliveries = await list_deliveries(client, admin.headers, subscription["id"])
    assert len(deliveries) == 1


async def test_condition_on_status_change(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    agent = await make_user("agent")
    await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.status_changed"],
        conditions={"field": "status", "equals": "resolved"},
    )
    created = await submit_request(client)
    for status in ("open", "resolved"):
        response = await client.patch(
            f"/api/v1/tickets/{created['reference']}",
            json={"status": status},
            headers=agent.headers,
        )
        assert response.status_code == 200, response.text

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    assert json.loads(request.body)["data"]["to"] == "resolved"


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"field": "colour", "equals": "red"}, "conditions.field"),
        ({"field": "priority"}, "conditions"),
        ({"field": "priority", "equals": "high", "in": ["low"]}, "conditions"),
        ({"all": [{"field": "priority", "equals": "critical"}]}, "conditions.all.0.equals"),
        ({"any": [{"field": "metric", "in": ["resolution", "uptime"]}]}, "conditions.any.0.in.1"),
        ({"all": []}, "conditions"),
        ({"all": [{"field": "status", "equals": "done", "extra": 1}]}, "conditions.all.0.extra"),
    ],
)
async def test_invalid_conditions_name_field(
    conditions: dict[str, Any], field: str, client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")

    response = await post_subscription(
        client, admin.headers, event_types=["*"], conditions=conditions
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert field in field_names(response)


def test_facts_prefer_event_data() -> None:
    data = {"reference": "SR-000001", "metric": "resolution", "priority": "urgent", "task": None}

    facts = event_facts("sla.breached", data, None)

    assert facts["metric"] == "resolution"
    assert facts["priority"] == "urgent"
    assert facts["task"] is None
    moved = event_facts("ticket.priority_changed", {"from": "low", "to": "high"}, None)
    assert moved["priority"] == "high"


# Custom headers


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "content-length",
        "Content-Type",
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
        "webhook-signature",
        "Webhook-Id",
        "User-Agent",
        "Bad Header",
    ],
)
async def test_reserved_header_rejected(name: str, client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    response = await post_subscription(
        client, admin.headers, event_types=["*"], headers={name: "x"}
    )

    assert response.status_code == 422
    assert field_names(response) == [f"headers.{name}"]


async def test_header_value_with_line_break_rejected(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    response = await post_subscription(
        client, admin.headers, event_types=["*"], headers={"X-Tenant": "a\r\nX-Evil: 1"}
    )

    assert response.status_code == 422
    assert field_names(response) == ["headers.X-Tenant"]


async def test_custom_headers_sent_and_masked(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        headers={
            "Authorization": "Bearer gateway-token-123",
            "X-Api-Key": "key-456",
            "X-Tenant": "brightline",
        },
    )
    assert subscription["headers"] == {
        "authorization": "Bearer …",
        "x-api-key": "…",
        "x-tenant": "brightline",
    }
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer gateway-token-123"
    assert request.headers["x-api-key"] == "key-456"
    assert request.headers["x-tenant"] == "brightline"
    Webhook(subscription["secret"]).verify(request.body, request.headers)
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    recorded = delivery["attempts"][0]["request_headers"]
    assert recorded["authorization"] == "Bearer …"
    assert recorded["x-api-key"] == "…"
    assert recorded["x-tenant"] == "brightline"
    assert recorded["webhook-signature"] == "…"
    log = await client.get(f"/api/v1/webhook-deliveries/{delivery['id']}", headers=admin.headers)
    assert "gateway-token-123" not in log.text
    assert "key-456" not in log.text
    shown = await client.get(f"{SUBSCRIPTIONS}/{subscription['id']}", headers=admin.headers)
    assert "gateway-token-123" not in shown.text


# Payload templates

TEMPLATE = """{
  "text": {{ ("New ticket " ~ data.reference ~ ": " ~ data.subject) | tojson }},
  "priority": {{ data.priority | tojson }},
  "event": {{ event.id | tojson }}
}"""


async def test_template_renders_body(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        payload_template=TEMPLATE,
    )
    created = await submit_request(client, subject='Inverter "beeps" <loud>')

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    body = Webhook(subscription["secret"]).verify(request.body, request.headers)
    assert body == {
        "text": f'New ticket {created["reference"]}: Inverter "beeps" <loud>',
        "priority": "high",
        "event": request.headers["webhook-id"],
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"a": {{ data.reference }', "syntax error on line 1"),
        ('{"a": {{ data.reference }}}', "not valid JSON"),
        ('{"a": {{ data.subject | tojson }}}', "for a sample sla.breached event"),
        ("{{ data.__class__.__mro__ }}", "rendering failed: SecurityError"),
        ('{"a": {{ data.pop("reference") | tojson }}}', "rendering failed: SecurityError"),
    ],
)
async def test_invalid_template_rejected(
    template: str, expected: str, client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")

    response = await post_subscription(
        client,
        admin.headers,
        event_types=["ticket.created", "sla.breached"],
        payload_template=template,
    )

    assert response.status_code == 422
    assert field_names(response) == ["payload_template"]
    assert expected in response.json()["error"]["message"]


async def test_template_fault_fails_without_retry(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    # The sample ticket has a site address of null; a real one with text breaks `+ 1`.
    template = '{"n": {{ (data.site_address or 0) + 1 }}}'
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        payload_template=template,
    )
    await submit_request(client, contact_method="site_visit", site_address="12 Marina Road")

    await run_delivery_jobs(db, ctx, outbound)
    assert await run_delivery_jobs(db, ctx, outbound) == 0

    assert receiver.requests == []
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "failed"
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "failed"
    assert attempt["error"].startswith("configuration fault: the payload template failed")


def test_samples_cover_catalogue() -> None:
    assert set(SAMPLE_DATA) == set(EVENT_TYPES)


# PATCH


async def test_patch_changes_given_fields(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"], description="CRM"
    )
    one = f"{SUBSCRIPTIONS}/{created['id']}"

    response = await client.patch(
        one,
        json={
            "url": "https://crm.example.com/hooks",
            "event_types": ["sla.breached", "sla.warning"],
            "conditions": {"field": "metric", "equals": "resolution"},
            "headers": {"X-Tenant": "brightline"},
        },
        headers=admin.headers,
    )

    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["url"] == "https://crm.example.com/hooks"
    assert shown["event_types"] == ["sla.breached", "sla.warning"]
    assert shown["conditions"] == {"field": "metric", "equals": "resolution"}
    assert shown["headers"] == {"x-tenant": "brightline"}
    assert shown["description"] == "CRM"
    cleared = await client.patch(one, json={"conditions": None}, headers=admin.headers)
    assert cleared.status_code == 200
    assert cleared.json()["conditions"] is None
    assert cleared.json()["headers"] == {"x-tenant": "brightline"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://10.0.0.1/hook"}, "url"),
        ({"url": None}, "url"),
        ({"event_types": ["ticket.exploded"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"headers": {"Host": "evil"}}, "headers.Host"),
        ({"conditions": {"field": "priority", "equals": "critical"}}, "conditions.equals"),
        ({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "secret"),
    ],
)
async def test_patch_rejects_invalid(
    body: dict[str, Any], field: str, client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")
    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )
    one = f"{SUBSCRIPTIONS}/{created['id']}"

    response = await client.patch(one, json=body, headers=admin.headers)

    assert response.status_code == 422
    assert field in field_names(response)
    unchanged = (await client.get(one, headers=admin.headers)).json()
    assert unchanged["url"] == HOOK_URL
    assert unchanged["event_types"] == ["ticket.created"]


async def test_patch_rechecks_template_for_new_events(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    created = await create_subscription(
        client,
        admin.headers,
        url=HOOK_URL,
        event_types=["ticket.created"],
        payload_template='{"s": {{ data.subject | tojson }}}',
    )

    response = await client.patch(
        f"{SUBSCRIPTIONS}/{created['id']}",
        json={"event_types": ["ticket.created", "sla.breached"]},
        headers=admin.headers,
    )

    assert response.status_code == 422
    assert field_names(response) == ["payload_template"]


async def test_patch_requires_admin(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    agent = await make_user("agent")
    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )

    response = await client.patch(
        f"{SUBSCRIPTIONS}/{created['id']}", json={"active": False}, headers=agent.headers
    )

    assert response.status_code == 403
    missing = await client.patch(
        f"{SUBSCRIPTIONS}/sub_missing", json={"active": False}, headers=admin.headers
    )
    assert missing.status_code == 404


async def test_patch_workspace_subscription_only_active(
    client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    [declared] = [s for s in listed.json() if s["source"] == "workspace"]

    changed = await client.patch(
        f"{SUBSCRIPTIONS}/{declared['id']}",
        json={"description": "mine now"},
        headers=admin.headers,
    )
    activated = await client.patch(
        f"{SUBSCRIPTIONS}/{declared['id']}", json={"active": True}, headers=admin.headers
    )

    assert changed.status_code == 422
    assert "workspace file" in changed.json()["error"]["message"]
    # Its URL comes from an unset environment variable, so there is nothing to send to.
    assert activated.status_code == 422
    assert field_names(activated) == ["active"]
