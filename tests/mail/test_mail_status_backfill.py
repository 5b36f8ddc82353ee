"""Upgrading to status notices sends none for status changes made before the upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from mail_support import REQUESTER
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.mail.jobs import queue_mail
from opsdesk.mail.models import MailDelivery
from opsdesk.migrate import alembic_config
from opsdesk.settings import Settings
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.workspace import Workspace

BACKFILL_REASON = "the status changed before status notices were mailed"


async def test_upgrade_skips_earlier_status_changes(
    workspace: Workspace, clock: FrozenClock, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}"
    config = alembic_config(url)
    # Alembic runs its own event loop, so it runs in a thread here.
    await asyncio.to_thread(command.upgrade, config, "0008")
    local = Context(workspace=workspace, clock=clock, settings=Settings(database_url=url))
    db = Database(url)
    try:
        async with db.transaction() as session:
            created = await tickets.create_ticket(
                session,
                local,
                tickets.NewTicket(
                    name="Ada Obi",
                    email=REQUESTER,
                    phone="+234 803 555 0101",
                    service_type="solar_repair",
                    contact_method="phone_call",
                    priority="medium",
                    subject="Inverter beeps and shuts down",
                    description="Since yesterday the inverter shuts down every hour.",
                ),
                channel="api",
            )
            ticket = await session.get(Ticket, created.ticket.id)
            assert ticket is not None
            await tickets.change_status(session, local, ticket, status="resolved", actor="agent")

        await asyncio.to_thread(command.upgrade, config, "head")
        await queue_mail(db, local)

        async with db.read() as session:
            rows = list(
                (await session.execute(select(MailDelivery).order_by(MailDelivery.id))).scalars()
            )
    finally:
        await db.dispose()

    backfilled, acknowledgement = rows
    assert backfilled.kind == "status_change"
    assert backfilled.status == "skipped"
    assert backfilled.last_error == BACKFILL_REASON
    assert backfilled.ticket_id == created.ticket.id
    assert acknowledgement.kind == "acknowledgement"
    assert acknowledgement.status == "pending"

    await asyncio.to_thread(command.downgrade, config, "0008")
    db = Database(url)
    try:
        async with db.read() as session:
            kinds = list((await session.execute(select(MailDelivery.kind))).scalars())
    finally:
        await db.dispose()
    assert kinds == ["acknowledgement"]
