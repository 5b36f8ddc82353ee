"""The webhook subscription API: admin only, the secret shown once, input checks, deletion."""

from __future__ import annotations

import httpx
import pytest
from webhook_receiver import create_subscription

from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.settings import Settings

HOOK_URL = "https://hooks.example.com/opsdesk"
SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"


async def test_requires_admin(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )
    body = {"url": HOOK_URL, "event_types": ["ticket.created"]}
    one = f"{SUBSCRIPTIONS}/{created['id']}"
    deliveries = f"{one}/deliveries"

    for role in ("agent", "technician", "supervisor"):
        user = await make_user(role)
        for method, path in (("GET", SUBSCRIPTIONS), ("GET", one), ("GET", deliveries)):
            response = await client.request(method, path, headers=user.headers)
            assert response.status_code == 403, (role, method, path)
            assert response.json()["error"]["code"] == "forbidden"
        posted = await client.post(SUBSCRIPTIONS, json=body, headers=user.headers)
        assert posted.status_code == 403
        deleted = await client.delete(one, headers=user.headers)
        assert deleted.status_code == 403

    anonymous = await client.post(SUBSCRIPTIONS, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert (await client.get(SUBSCRIPTIONS)).status_code == 401
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert (await client.get(SUBSCRIPTIONS, headers=bad_token)).status_code == 401
    # The subscription survived every refused call.
    assert (await client.get(one, headers=admin.headers)).status_code == 200


async def test_secret_shown_once(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    created = await create_subscription(
        client,
        admin.headers,
        url=HOOK_URL,
        event_types=["ticket.created", "task.created", "ticket.created"],
        description="ERP sync",
    )

    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["event_types"] == ["task.created", "ticket.created"]
    assert created["kind"] == "webhook"
    assert created["source"] == "api"
    assert created["active"] is True
    shown = await client.get(f"{SUBSCRIPTIONS}/{created['id']}", headers=admin.headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    hint = shown.json()["secret_hint"]
    assert secret.startswith(hint.removesuffix("…"))
    assert len(hint.removesuffix("…")) < len(secret) // 2
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    assert secret not in listed.text
    assert secret not in shown.text


async def test_own_secret_accepted(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["*"], secret=secret
    )

    assert created["secret"] == secret
    invalid = await client.post(
        SUBSCRIPTIONS,
        json={"url": HOOK_URL, "event_types": ["*"], "secret": "hunter2"},
        headers=admin.headers,
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["fields"][0]["field"] == "secret"
    assert "hunter2" not in invalid.text


async def test_unknown_event_type_rejected(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    response = await client.post(
        SUBSCRIPTIONS,
        json={"url": HOOK_URL, "event_types": ["ticket.created", "ticket.exploded"]},
        headers=admin.headers,
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "'ticket.exploded'" in error["message"]
    assert error["fields"] == [
        {"field": "event_types", "message": "unknown event type 'ticket.exploded'"}
    ]
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    assert [s for s in listed.json() if s["source"] == "api"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "not a url", "event_types": ["*"]}, "url"),
        ({"url": "ftp://example.com/hook", "event_types": ["*"]}, "url"),
        ({"url": HOOK_URL, "event_types": []}, "event_types"),
        ({"url": HOOK_URL}, "event_types"),
        ({"url": HOOK_URL, "event_types": ["*"], "kind": "email"}, "kind"),
        ({"url": HOOK_URL, "event_types": ["*"], "colour": "red"}, "colour"),
    ],
)
async def test_invalid_body_rejected(
    body: dict[str, object], field: str, client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")

    response = await client.post(SUBSCRIPTIONS, json=body, headers=admin.headers)

    assert response.status_code == 422
    assert field in [entry["field"] for entry in response.json()["error"]["fields"]]


async def test_slack_with_secret_rejected(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    response = await client.post(
        SUBSCRIPTIONS,
        json={
            "url": HOOK_URL,
            "kind": "slack",
            "event_types": ["ticket.created"],
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
        headers=admin.headers,
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"] == [{"field": "secret", "message": "not allowed for kind slack"}]
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in response.text


async def test_delete_subscription(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    created = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )
    one = f"{SUBSCRIPTIONS}/{created['id']}"

    deleted = await client.delete(one, headers=admin.headers)

    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get(one, headers=admin.headers)
    assert missing.status_code == 404
    assert created["id"] in missing.json()["error"]["message"]
    assert (await client.delete(one, headers=admin.headers)).status_code == 404
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    assert created["id"] not in [s["id"] for s in listed.json()]
    gone = await client.get(f"{one}/deliveries", headers=admin.headers)
    assert gone.status_code == 404


async def test_workspace_subscription_kept(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    [declared] = [s for s in listed.json() if s["source"] == "workspace"]
    assert declared["kind"] == "slack"
    assert declared["event_types"] == ["sla.breached", "ticket.created"]
    assert declared["active"] is False
    assert declared["url"] == ""
    assert declared["disabled_reason"] == (
        "environment variable OPSDESK_SLACK_WEBHOOK_URL is not set, so the URL is empty"
    )

    response = await client.delete(f"{SUBSCRIPTIONS}/{declared['id']}", headers=admin.headers)

    assert response.status_code == 422
    assert "ops_slack" in response.json()["error"]["message"]
    assert "workspace file" in response.json()["error"]["message"]
    still = await client.get(f"{SUBSCRIPTIONS}/{declared['id']}", headers=admin.headers)
    assert still.status_code == 200


def test_catalogue_has_no_duplicates() -> None:
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
    assert all("." in name for name in EVENT_TYPES)


def test_lease_must_exceed_timeout() -> None:
    with pytest.raises(ValueError, match="OPSDESK_WEBHOOK_LEASE_SECONDS"):
        Settings(webhook_lease_seconds=5, webhook_timeout_seconds=5)
    settings = Settings(webhook_lease_seconds=3, webhook_timeout_seconds=2)
    assert settings.webhook_lease_seconds == 3
