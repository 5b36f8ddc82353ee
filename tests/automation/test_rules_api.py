"""The rules API: admins manage API rules; workspace rules are listed read-only."""

from __future__ import annotations

import httpx

from opsdesk.automation.jobs import run_event_rules
from opsdesk.context import Context
from opsdesk.db import Database

RULE = {
    "key": "tag_cctv",
    "name": "Tag CCTV requests",
    "on": ["ticket.created"],
    "when": {"field": "pipeline", "equals": "cctv"},
    "actions": [{"action": "add_tag", "tag": "cameras"}],
}
REQUEST = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "service_type": "cctv_repair",
    "contact_method": "email",
    "priority": "medium",
    "subject": "Camera offline",
    "description": "The gate camera shows nothing.",
}


async def test_admin_creates_rule_that_runs(
    client: httpx.AsyncClient, make_user, db: Database, ctx: Context
) -> None:
    admin = await make_user("admin")
    created = await client.post("/api/v1/rules", json=RULE, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "api"

    submitted = await client.post("/api/v1/requests", json=REQUEST)
    assert submitted.status_code == 201
    while await run_event_rules(db, ctx):
        pass
    detail = await client.get(
        f"/api/v1/tickets/{submitted.json()['reference']}", headers=admin.headers
    )
    kinds = [entry["kind"] for entry in detail.json()["timeline"]]
    assert "rule.ran" in kinds

    listed = await client.get("/api/v1/rules", headers=admin.headers)
    assert [rule["key"] for rule in listed.json()] == ["tag_cctv"]


async def test_rule_api_validates(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    bad_team = RULE | {"actions": [{"action": "assign", "team": "ghost_crew"}]}
    response = await client.post("/api/v1/rules", json=bad_team, headers=admin.headers)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields[0]["field"] == "actions[0].team"
    assert "ghost_crew" in fields[0]["message"]

    no_trigger = {key: value for key, value in RULE.items() if key != "on"}
    response = await client.post("/api/v1/rules", json=no_trigger, headers=admin.headers)
    assert response.status_code == 422
    assert "exactly one trigger" in response.text


async def test_rule_api_needs_admin(client: httpx.AsyncClient, make_user) -> None:
    agent = await make_user("agent")
    assert (await client.post("/api/v1/rules", json=RULE, headers=agent.headers)).status_code == 403
    assert (await client.post("/api/v1/rules", json=RULE)).status_code == 401


async def test_rule_replace_and_delete(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    await client.post("/api/v1/rules", json=RULE, headers=admin.headers)
    renamed = RULE | {"name": "Tag camera requests"}
    replaced = await client.put("/api/v1/rules/tag_cctv", json=renamed, headers=admin.headers)
    assert replaced.status_code == 200
    assert replaced.json()["definition"]["name"] == "Tag camera requests"
    assert (await client.post("/api/v1/rules", json=RULE, headers=admin.headers)).status_code == 409
    assert (await client.delete("/api/v1/rules/tag_cctv", headers=admin.headers)).status_code == 204
    assert (await client.delete("/api/v1/rules/tag_cctv", headers=admin.headers)).status_code == 404
