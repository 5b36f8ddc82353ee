"""Account changes that admins make in the console: role, teams, activation, tokens.

Creating users, setting passwords and issuing tokens go through opsdesk.users. The
functions here only flush. They keep at least one active admin and never let an admin
demote or deactivate their own account, so nobody can lock the console out by accident.

A change of role or activation first locks the rows of all active admins, in id order,
and only then the target row. Two admins demoting each other at the same moment are
therefore handled one after the other, and the second finds the first already demoted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.users.models import ApiToken, Role, TeamMember, User, WebSession

logger = logging.getLogger(__name__)


async def access_user(session: AsyncSession, user_id: int, *, lock: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if lock:
        query = query.with_for_update()
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def teams_of(session: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    teams: dict[int, list[str]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return teams
    rows = await session.execute(
        select(TeamMember.user_id, TeamMember.team)
        .where(TeamMember.user_id.in_(user_ids))
        .order_by(TeamMember.team)
    )
    for user_id, team in rows:
        teams[user_id].append(team)
    return teams


async def _lock_admins_then_user(session: AsyncSession, user_id: int) -> tuple[User, set[int]]:
    """Lock the active admins and then the user; return the user and the admins' ids."""
    admins = set(
        (
            await session.execute(
                select(User.id)
                .where(User.role == Role.ADMIN.value, User.active.is_(True))
                .order_by(User.id)
                .with_for_update()
            )
        ).scalars()
    )
    return await access_user(session, user_id, lock=True), admins


def _check_keeps_an_admin(user: User, admins: set[int], doing: str) -> None:
    """Raise Conflict if `user` is the only active admin, whom `doing` would remove."""
    if admins == {user.id}:
        raise Conflict(
            f"{user.email} is the only active admin, so {doing} would leave nobody able to "
            "manage accounts; make another user admin first"
        )


def _check_not_self(user: User, by: User, doing: str) -> None:
    if user.id == by.id:
        raise InvalidInput(f"you cannot {doing} your own account; ask another admin")


async def change_role(session: AsyncSession, *, user_id: int, role: str, by: User) -> bool:
    """Give the user another role; return False if it had that role already."""
    roles = [member.value for member in Role]
    if role not in roles:
        raise InvalidInput(
            f"unknown role {role!r}; expected one of {', '.join(roles)}",
            details=[{"field": "role", "message": "unknown role"}],
        )
    user, admins = await _lock_admins_then_user(session, user_id)
    if user.role == role:
        return False
    _check_not_self(user, by, "change the role of")
    if role != Role.ADMIN.value:
        _check_keeps_an_admin(user, admins, f"making them {role}")
    old = user.role
    user.role = role
    logger.info("admin %s changed the role of user %s from %s to %s", by.id, user.id, old, role)
    return True


async def set_teams(
    session: AsyncSession, *, user: User, teams: list[str], known_teams: list[str], by: User
) -> bool:
    """Replace the user's team memberships; return False if they were the same."""
    unknown = sorted(set(teams) - set(known_teams))
    if unknown:
        raise InvalidInput(
            f"unknown team(s) {', '.join(unknown)}; expected some of {', '.join(known_teams)}",
            details=[{"field": "teams", "message": "unknown team"}],
        )
    current = (await teams_of(session, [user.id]))[user.id]
    if sorted(set(teams)) == current:
        return False
    await session.execute(delete(TeamMember).where(TeamMember.user_id == user.id))
    for team in sorted(set(teams)):
        session.add(TeamMember(user_id=user.id, team=team))
    logger.info(
        "admin %s set the teams of user %s to %s",
        by.id,
        user.id,
        ", ".join(sorted(set(teams))) or "none",
    )
    return True


async def set_active(session: AsyncSession, *, user_id: int, active: bool, by: User) -> bool:
    """Deactivate (ending the user's sessions) or reactivate an account.

    A deactivated user can neither sign in nor use API tokens, but stays assigned to
    tickets and named in their history. Reactivating also lifts a sign-in lockout.
    Return False if the account already had that state.
    """
    user, admins = await _lock_admins_then_user(session, user_id)
    if user.active == active:
        return False
    if not active:
        _check_not_self(user, by, "deactivate")
        _check_keeps_an_admin(user, admins, "deactivating them")
        await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    else:
        user.failed_sign_ins = 0
        user.locked_until = None
    user.active = active
    logger.info("admin %s %s user %s", by.id, "reactivated" if active else "deactivated", user.id)
    return True


async def access_token(session: AsyncSession, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"API token {token_id} not found")
    return token


def revoke_token(token: ApiToken, *, by: User, at: datetime) -> bool:
    """Revoke the token at `at`; return False if it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = at
    logger.info("admin %s revoked API token %s of user %s", by.id, token.id, token.user_id)
    return True
