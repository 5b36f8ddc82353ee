"""The profile page: a signed-in user marks themselves away until a local time and comes back."""

from __future__ import annotations

from datetime import UTC, datetime

from console_agent_support import Console, parse_page

from opsdesk.db import Database
from opsdesk.users.models import User


async def away_until(db: Database, user_id: int) -> datetime | None:
    async with db.read() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.away_until


async def test_profile_shows_account_and_is_linked(console: Console) -> None:
    account = await console.signed_in("technician", teams=["solar_crew"])

    page = await console.page("/console/profile")

    assert page.one("profile-link").attrs["href"] == "/console/profile"
    assert account.email in page.one("profile").text
    assert "Solar crew" in page.one("profile").text
    assert page.one("away-state").text.startswith("Available.")
    assert page.has("away-form")
    assert not page.has("back-form")
    assert "In Africa/Lagos." in page.one("away").text


async def test_mark_away_in_local_time_and_come_back(console: Console, db: Database) -> None:
    account = await console.signed_in("agent")

    response = await console.post("/console/profile/away", {"until": "2026-03-12T17:30"})

    assert response.status_code == 303
    assert response.headers["location"] == "/console/profile?saved=away"
    # Lagos is UTC+1 all year.
    assert await away_until(db, account.id) == datetime(2026, 3, 12, 16, 30, tzinfo=UTC)
    page = await console.page("/console/profile?saved=away")
    assert page.one("notice").text.startswith("You are marked away.")
    assert page.one("away-state").text.startswith("Away until Thu 12 Mar 2026 17:30 WAT.")
    assert page.has("back-form")

    back = await console.post("/console/profile/back", {})

    assert back.status_code == 303
    assert back.headers["location"] == "/console/profile?saved=back"
    assert await away_until(db, account.id) is None
    page = await console.page("/console/profile?saved=back")
    assert page.one("away-state").text.startswith("Available.")


async def test_away_uses_the_users_time_zone(console: Console, db: Database) -> None:
    account = await console.signed_in("technician")
    async with db.transaction() as session:
        user = await session.get(User, account.id)
        assert user is not None
        user.timezone = "Europe/Berlin"

    response = await console.post("/console/profile/away", {"until": "2026-03-12T17:30"})

    assert response.status_code == 303
    assert await away_until(db, account.id) == datetime(2026, 3, 12, 16, 30, tzinfo=UTC)
    page = await console.page("/console/profile")
    assert "In Europe/Berlin." in page.one("away").text
    assert page.one("away-state").text.startswith("Away until Thu 12 Mar 2026 17:30 CET.")


async def test_away_form_rejects_bad_times(console: Console, db: Database) -> None:
    account = await console.signed_in("agent")
    cases = [
        ("", "Choose the date and time you are back."),
        ("soon", "'soon' is not a date and time"),
        # The test clock is 10:00 in Lagos.
        ("2026-03-10T09:59", "is not in the future"),
    ]

    for value, message in cases:
        response = await console.post("/console/profile/away", {"until": value})
        assert response.status_code == 422, value
        page = parse_page(response.text)
        assert message in page.one("error-until").text
        assert page.one("away-form").attrs["data-testid"] == "away-form"
    assert await away_until(db, account.id) is None


async def test_away_form_needs_csrf_token(console: Console, db: Database) -> None:
    account = await console.signed_in("agent")

    response = await console.post(
        "/console/profile/away", {"until": "2026-03-12T17:30"}, csrf=False
    )

    assert response.status_code == 403
    assert await away_until(db, account.id) is None


async def test_ticket_page_shows_who_is_away(console: Console, db: Database) -> None:
    away = await console.account("technician", teams=["solar_crew"])
    present = await console.account("technician", teams=["solar_crew"])
    async with db.transaction() as session:
        user = await session.get(User, away.id)
        assert user is not None
        user.away_until = datetime(2026, 3, 12, 16, 30, tzinfo=UTC)
    await console.signed_in("agent")
    reference = await console.submit()

    page = await console.page(f"/console/tickets/{reference}")

    options = {option.attrs["value"]: option.text for option in page.all("assignee-option")}
    assert options[away.email] == f"{away.email} (Technician) · away until Thu 12 Mar 17:30"
    assert options[present.email] == f"{present.email} (Technician)"
