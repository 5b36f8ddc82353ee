"""web: intake rate limit buckets shared by API processes on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Each API process kept its own buckets, so N processes let N times the configured rate
through. On PostgreSQL the buckets now live in an unlogged table (a crash empties it,
which only forgets recent submissions) and one function call takes the tokens of a
request. SQLite gets the table too, so both schemas match, but leaves it empty: a
SQLite deployment has one process, which keeps its buckets in memory.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAKE_TOKENS = """
CREATE FUNCTION opsdesk_take_rate_tokens(
    address_key text,
    origin_key text,
    now_seconds double precision,
    address_burst double precision,
    address_per_second double precision,
    origin_burst double precision,
    origin_per_second double precision
) RETURNS TABLE (allowed boolean, wait_seconds double precision, limited_by text)
LANGUAGE plpgsql AS $$
DECLARE
    address_tokens double precision;
    origin_tokens double precision;
    address_wait double precision;
    origin_wait double precision := 0;
BEGIN
    -- Now and then drop buckets that have refilled: such a row means the same as none.
    -- SKIP LOCKED, because waiting here for a row another request holds could deadlock.
    IF random() < 0.01 THEN
        DELETE FROM rate_limit_buckets
        WHERE ctid IN (
            SELECT ctid FROM rate_limit_buckets
            WHERE (kind = 'address' AND refreshed_at < now_seconds - address_burst / address_per_second)
               OR (kind = 'origin' AND refreshed_at < now_seconds - origin_burst / origin_per_second)
            FOR UPDATE SKIP LOCKED
        );
    END IF;

    -- The address row is locked before the origin row in every call, so two requests
    -- never wait for each other in a cycle. The two blocks below differ only in kind.
    INSERT INTO rate_limit_buckets (kind, key, tokens, refreshed_at)
    VALUES ('address', address_key, address_burst, now_seconds)
    ON CONFLICT (kind, key) DO NOTHING;
    SELECT LEAST(address_burst, tokens + GREATEST(now_seconds - refreshed_at, 0) * address_per_second)
    INTO address_tokens
    FROM rate_limit_buckets WHERE kind = 'address' AND key = address_key
    FOR UPDATE;
    address_wait := GREATEST(0, (1 - address_tokens) / address_per_second);

    IF origin_key IS NOT NULL THEN
        INSERT INTO rate_limit_buckets (kind, key, tokens, refreshed_at)
        VALUES ('origin', origin_key, origin_burst, now_seconds)
        ON CONFLICT (kind, key) DO NOTHING;
        SELECT LEAST(origin_burst, tokens + GREATEST(now_seconds - refreshed_at, 0) * origin_per_second)
        INTO origin_tokens
        FROM rate_limit_buckets WHERE kind = 'origin' AND key = origin_key
        FOR UPDATE;
        origin_wait := GREATEST(0, (1 - origin_tokens) / origin_per_second);
    END IF;

    -- A request over either limit takes no token from the other bucket.
    IF address_wait > 0 OR origin_wait > 0 THEN
        RETURN QUERY SELECT
            false,
            GREATEST(address_wait, origin_wait),
            CASE WHEN address_wait >= origin_wait THEN 'address' ELSE 'origin' END;
        RETURN;
    END IF;
    UPDATE rate_limit_buckets SET tokens = address_tokens - 1, refreshed_at = now_seconds
    WHERE kind = 'address' AND key = address_key;
    IF origin_key IS NOT NULL THEN
        UPDATE rate_limit_buckets SET tokens = origin_tokens - 1, refreshed_at = now_seconds
        WHERE kind = 'origin' AND key = origin_key;
    END IF;
    RETURN QUERY SELECT true, 0::double precision, ''::text;
END;
$$
"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_buckets",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refreshed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_rate_limit_buckets")),
        prefixes=["UNLOGGED"] if postgresql else [],
    )
    if postgresql:
        op.execute(TAKE_TOKENS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION opsdesk_take_rate_tokens("
            "text, text, double precision, double precision, double precision, "
            "double precision, double precision)"
        )
    op.drop_table("rate_limit_buckets")
