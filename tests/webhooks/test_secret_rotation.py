"""Secret rotation: both secrets verify during the overlap window, only the new one after."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import Receiver, create_subscription, run_delivery_jobs, submit_request

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings

SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"
HOOK_URL = "https://hooks.example.com/opsdesk"
# Short, so the clock can pass the window and stay within the 5 minutes receivers allow
# between webhook-timestamp and their own clock.
OVERLAP_SECONDS = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_secret_overlap_seconds": OVERLAP_SECONDS})


async def rotate(
    client: httpx.AsyncClient, headers: dict[str, str], subscription_id: str, **body: str
) -> httpx.Response:
    return await client.post(
        f"{SUBSCRIPTIONS}/{subscription_id}/rotate-secret", json=body or None, headers=headers
    )


async def test_both_secrets_verify_in_window(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    old_secret = subscription["secret"]

    response = await rotate(client, admin.headers, subscription["id"])

    assert response.status_code == 200, response.text
    rotated = response.json()
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    expires_at = clock.now() + timedelta(seconds=OVERLAP_SECONDS)
    assert rotated["previous_secret_expires_at"] == expires_at.isoformat().replace("+00:00", "Z")
    shown = await client.get(f"{SUBSCRIPTIONS}/{subscription['id']}", headers=admin.headers)
    assert new_secret not in shown.text
    assert shown.json()["previous_secret_expires_at"] is not None

    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old_secret).verify(during.body, during.headers)["type"] == "ticket.created"
    assert Webhook(new_secret).verify(during.body, during.headers)["type"] == "ticket.created"

    clock.advance(timedelta(seconds=OVERLAP_SECONDS))
    await submit_request(client, subject="A second request")
    await run_delivery_jobs(db, ctx, outbound)
    [_, after] = receiver.requests
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new_secret).verify(after.body, after.headers)["type"] == "ticket.created"
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(old_secret).verify(after.body, after.headers)
    shown = await client.get(f"{SUBSCRIPTIONS}/{subscription['id']}", headers=admin.headers)
    assert shown.json()["previous_secret_expires_at"] is None


async def test_second_rotation_drops_oldest(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    first = subscription["secret"]
    second = (await rotate(client, admin.headers, subscription["id"])).json()["secret"]
    own = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    third = (await rotate(client, admin.headers, subscription["id"], secret=own)).json()["secret"]
    assert third == own

    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    Webhook(second).verify(request.body, request.headers)
    Webhook(third).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret": "hunter2"}, "secret"),
        ({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "colour": "red"}, "colour"),
    ],
)
async def test_rotation_rejects_invalid_secret(
    body: dict[str, str], field: str, client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )

    response = await rotate(client, admin.headers, subscription["id"], **body)

    assert response.status_code == 422
    assert field in [entry["field"] for entry in response.json()["error"]["fields"]]
    assert "hunter2" not in response.text


async def test_rotation_refused_for_unsigned_and_declared(
    client: httpx.AsyncClient, make_user
) -> None:
    admin = await make_user("admin")
    slack = await create_subscription(
        client, admin.headers, url=HOOK_URL, kind="slack", event_types=["ticket.created"]
    )
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    [declared] = [s for s in listed.json() if s["source"] == "workspace"]

    unsigned = await rotate(client, admin.headers, slack["id"])
    from_file = await rotate(client, admin.headers, declared["id"])

    assert unsigned.status_code == 422
    assert "not signed" in unsigned.json()["error"]["message"]
    assert from_file.status_code == 422
    assert "workspace file" in from_file.json()["error"]["message"]


async def test_rotation_requires_admin(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    supervisor = await make_user("supervisor")
    subscription = await create_subscription(
        client, admin.headers, url=HOOK_URL, event_types=["ticket.created"]
    )

    refused = await rotate(client, supervisor.headers, subscription["id"])
    missing = await rotate(client, admin.headers, "sub_missing")

    assert refused.status_code == 403
    assert missing.status_code == 404
