"""Signing in to the console: wrong passwords, the lockout, and signing out."""

from __future__ import annotations

from datetime import timedelta

import httpx
from console_agent_support import PASSWORD, Account, Console, hidden_value

from opsdesk.clock import FrozenClock
from opsdesk.users.models import User


async def attempt(console: Console, account: Account, password: str) -> httpx.Response:
    console.client.cookies.clear()
    form = await console.client.get("/console/login")
    return await console.client.post(
        "/console/login",
        data={
            "email": account.email,
            "password": password,
            "login_csrf": hidden_value(form.text, "login_csrf"),
        },
    )


async def stored(console: Console, account: Account) -> User:
    async with console.db.read() as session:
        user = await session.get(User, account.id)
        assert user is not None
        return user


async def test_wrong_password_is_refused_and_counted(console: Console) -> None:
    account = await console.account("agent")

    response = await attempt(console, account, "not the password")

    assert response.status_code == 401
    assert "E-mail or password is incorrect." in response.text
    assert "opsdesk_session" not in response.cookies
    assert (await stored(console, account)).failed_sign_ins == 1


async def test_unknown_email_gets_the_same_answer(console: Console) -> None:
    stranger = Account(id=0, email="nobody@example.com", role="agent")

    response = await attempt(console, stranger, PASSWORD)

    assert response.status_code == 401
    assert "E-mail or password is incorrect." in response.text


async def test_repeated_failures_lock_account(
    console: Console,
) -> None:
    account = await console.account("agent")
    limit = console.ctx.settings.max_failed_sign_ins

    for _ in range(limit):
        assert (await attempt(console, account, "guess")).status_code == 401
    locked = await attempt(console, account, PASSWORD)

    assert locked.status_code == 401
    assert "Too many failed sign-ins" in locked.text
    assert (await stored(console, account)).locked_until is not None


async def test_lock_ends_after_the_lockout_period(console: Console, clock: FrozenClock) -> None:
    account = await console.account("agent")
    for _ in range(console.ctx.settings.max_failed_sign_ins):
        await attempt(console, account, "guess")

    clock.advance(timedelta(minutes=console.ctx.settings.lockout_minutes, seconds=1))
    response = await attempt(console, account, PASSWORD)

    assert response.status_code == 303
    user = await stored(console, account)
    assert (user.failed_sign_ins, user.locked_until) == (0, None)


async def test_success_resets_the_failure_count(console: Console) -> None:
    account = await console.account("agent")
    await attempt(console, account, "guess")

    assert (await attempt(console, account, PASSWORD)).status_code == 303
    assert (await stored(console, account)).failed_sign_ins == 0


async def test_sign_out_ends_the_session(console: Console) -> None:
    await console.signed_in("agent")

    response = await console.post("/console/logout", {})

    assert response.status_code == 303
    after = await console.client.get("/console/queue")
    assert after.status_code in {303, 401}
    assert "/console/login" in after.headers.get("location", "/console/login")
