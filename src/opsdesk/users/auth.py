"""Console sign-in: argon2 password hashes, sessions and a lockout after failed attempts."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import InvalidInput
from opsdesk.settings import Settings
from opsdesk.users.models import User, WebSession

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a wrong e-mail costs as much time
# as a wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("opsdesk-dummy-password")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters",
            details=[{"field": "password", "message": "too short"}],
        )
    return _hasher.hash(password)


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    """The cookie value; only its hash is stored."""
    csrf_token: str


@dataclass(frozen=True)
class SignInRefused:
    reason: str
    """Plain words for the person signing in."""


async def sign_in(
    session: AsyncSession, *, email: str, password: str, settings: Settings, at: datetime
) -> SignedIn | SignInRefused:
    """Check the password and open a session, or return the reason for refusing.

    An unknown e-mail and a wrong password get the same reason. After
    `settings.max_failed_sign_ins` failures in a row the account is locked for
    `settings.lockout_minutes`, and a correct password does not open it before then.
    A refusal is returned, not raised, so the caller commits the failure count.
    """
    user = (
        await session.execute(
            select(User).where(User.email == email.strip().lower()).with_for_update()
        )
    ).scalar_one_or_none()
    if user is None or user.password_hash is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return SignInRefused("e-mail or password is incorrect")
    if user.locked_until is not None and user.locked_until > at:
        return SignInRefused(
            f"too many failed sign-ins; try again after {user.locked_until:%H:%M} UTC "
            "or ask an admin to reset the password"
        )
    if not _verify(user.password_hash, password):
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= settings.max_failed_sign_ins:
            user.locked_until = at + timedelta(minutes=settings.lockout_minutes)
            user.failed_sign_ins = 0
            logger.warning("account of user %s locked after repeated failed sign-ins", user.id)
        return SignInRefused("e-mail or password is incorrect")
    user.failed_sign_ins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_session_id(token),
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=at,
            last_seen_at=at,
            expires_at=at + timedelta(days=settings.session_max_days),
        )
    )
    logger.info("user %s signed in", user.id)
    return SignedIn(user=user, token=token, csrf_token=csrf_token)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def session_user(
    session: AsyncSession, *, token: str, settings: Settings, at: datetime
) -> tuple[User, WebSession] | None:
    """Return the user and session behind a cookie, or None if it is unknown or expired."""
    row = (
        await session.execute(
            select(User, WebSession)
            .join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.id == _session_id(token))
        )
    ).one_or_none()
    if row is None:
        return None
    user, web_session = row
    idle_limit = web_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if not user.active or web_session.expires_at <= at or idle_limit <= at:
        return None
    return user, web_session


def needs_touch(web_session: WebSession, at: datetime) -> bool:
    """Whether the idle timer should move; written at most once a minute to keep reads cheap."""
    return at - web_session.last_seen_at > timedelta(minutes=1)


async def touch(session: AsyncSession, *, session_id: str, at: datetime) -> None:
    web_session = await session.get(WebSession, session_id)
    if web_session is not None:
        web_session.last_seen_at = at


async def sign_out(session: AsyncSession, *, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.id == _session_id(token)))


async def set_password(session: AsyncSession, *, user: User, password: str) -> None:
    """Set a new password, clear any lockout and end the user's other sessions."""
    user.password_hash = hash_password(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
