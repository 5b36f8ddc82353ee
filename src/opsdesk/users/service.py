"""Create staff accounts and API tokens, and resolve a bearer token to its user."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from opsdesk.errors import Conflict, InvalidInput, NotFound, Unauthorized
from opsdesk.users.models import ApiToken, Role, TeamMember, User

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "odt_"  # noqa: S105 - a public prefix that makes leaked tokens easy to spot


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str
    """The bearer token itself. It is not stored anywhere, so it can be shown only now."""


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: str,
    teams: list[str],
    known_teams: list[str],
    at: datetime,
) -> User:
    if role not in {member.value for member in Role}:
        roles = ", ".join(member.value for member in Role)
        raise InvalidInput(f"unknown role {role!r}; expected one of {roles}")
    for team in teams:
        if team not in known_teams:
            raise InvalidInput(
                f"unknown team {team!r}; expected one of {', '.join(sorted(known_teams))}"
            )
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput(f"invalid e-mail address {email!r}")
    user = User(email=email, name=name or email, role=role, active=True, created_at=at)
    session.add(user)
    session.sync_session.info.pop(_USERS_CACHE, None)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a user with e-mail {email} already exists") from exc
    for team in teams:
        session.add(TeamMember(user_id=user.id, team=team))
    return user


def issue_token(session: AsyncSession, *, user: User, name: str, at: datetime) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        token_prefix=secret[:12],
        created_at=at,
    )
    session.add(token)
    return IssuedToken(token=token, secret=secret)


async def authenticate_token(session: AsyncSession, secret: str) -> tuple[User, ApiToken]:
    """Return the active user owning the bearer token and the token, or raise Unauthorized."""
    row = (
        await session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None or not row[0].active:
        raise Unauthorized("invalid or revoked API token; create one with `opsdesk users create`")
    return row[0], row[1]


_USERS_CACHE = "opsdesk_users_cache"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_users(session: Session) -> None:
    session.info.pop(_USERS_CACHE, None)


async def users_with(
    session: AsyncSession,
    *,
    role: str | None = None,
    team: str | None = None,
    email: str | None = None,
) -> list[User]:
    """Return the active users matching every given criterion.

    Answers are kept until the transaction ends, because an escalation that notifies a
    role runs once per breach and a busy transaction may run many.
    """
    cache: dict[tuple[str | None, ...], list[User]] = session.sync_session.info.setdefault(
        _USERS_CACHE, {}
    )
    key = (role, team, email.lower() if email else None)
    if key in cache:
        return cache[key]
    query = select(User).where(User.active.is_(True))
    if role is not None:
        query = query.where(User.role == role)
    if email is not None:
        query = query.where(User.email == email.lower())
    if team is not None:
        query = query.join(TeamMember, TeamMember.user_id == User.id).where(TeamMember.team == team)
    found = list((await session.execute(query.order_by(User.id))).scalars())
    cache[key] = found
    return found


def check_away_until(until: datetime, *, now: datetime) -> datetime:
    """Return `until` in UTC, or raise InvalidInput unless it is time-zone aware and after `now`."""
    if until.tzinfo is None or until.utcoffset() is None:
        raise InvalidInput(
            f"until {until.isoformat()} has no time zone; add an offset such as +01:00 or Z",
            details=[{"field": "until", "message": "must include a time zone offset"}],
        )
    if until <= now:
        raise InvalidInput(
            f"until {until.isoformat()} is not in the future (now {now.isoformat()}); "
            "give a later instant, or clear the away time to be available again",
            details=[{"field": "until", "message": "must be in the future"}],
        )
    try:
        return until.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"until {until.isoformat()} is out of range; give an instant before the year 9999",
            details=[{"field": "until", "message": "out of range"}],
        ) from None


async def access_user_by_email(session: AsyncSession, email: str, *, lock: bool = False) -> User:
    """Return the user with this e-mail address, active or not, or raise NotFound."""
    query = select(User).where(User.email == email.strip().lower())
    if lock:
        query = query.with_for_update()
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}")
    return user


def set_away(user: User, *, until: datetime | None, by: User, now: datetime) -> bool:
    """Mark `user` away until `until`, or available again with None; return whether it changed.

    Automatic assignment skips the user while `away_until` is after the moment it assigns,
    so an away time in the past counts as available.
    """
    if until is not None:
        until = check_away_until(until, now=now)
    previous = user.away_until
    was_away = previous is not None and previous > now
    user.away_until = until
    if until is None and not was_away:
        return False
    if until is not None and previous == until:
        return False
    logger.info(
        "user %s marked %s by %s",
        user.email,
        f"away until {until.isoformat()}" if until is not None else "available",
        by.email,
    )
    return True
