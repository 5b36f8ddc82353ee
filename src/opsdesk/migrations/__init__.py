"""Alembic migrations; run them with `opsdesk migrate`."""
