"""Sample data for the screenshots: Brightline Technical Services on a Tuesday morning in Lagos.

The data is written through the services, in time order, with the SLA worker's firing
done by `fire_due_clocks` before each step, so breaches, escalations and alerts happen
as they would have. Names, e-mail addresses (example.com) and phone numbers (555) are
made up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from browser_support import Account, LiveServer, make_staff
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.clock import FrozenClock
from opsdesk.console.alerts import acknowledge, open_alerts
from opsdesk.context import Context
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.sla.models import SlaClock
from opsdesk.tasks import service as task_service
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference
from opsdesk.users.models import User

LAGOS = ZoneInfo("Africa/Lagos")
NOW = datetime(2026, 3, 10, 11, 20, tzinfo=LAGOS)
"""The server's frozen clock: a Tuesday in office hours."""


TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)


def lagos(day: date, at: str) -> datetime:
    hours, minutes = (int(part) for part in at.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=LAGOS)


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str
    address: str


CUSTOMERS = {
    "chiamaka": Customer(
        "Chiamaka Eze",
        "chiamaka.eze@example.com",
        "+234 803 555 0142",
        "12 Admiralty Way, Lekki Phase 1, Lagos",
    ),
    "tunde": Customer(
        "Tunde Bakare",
        "tunde.bakare@example.com",
        "+234 805 555 0177",
        "4 Isaac John Street, Ikeja GRA, Lagos",
    ),
    "ngozi": Customer(
        "Ngozi Okafor",
        "ngozi.okafor@example.com",
        "+234 809 555 0123",
        "27B Adeola Odeku Street, Victoria Island, Lagos",
    ),
    "emeka": Customer(
        "Emeka Nwosu",
        "emeka.nwosu@example.com",
        "+234 802 555 0190",
        "15 Adeniran Ogunsanya Street, Surulere, Lagos",
    ),
    "funke": Customer(
        "Funke Adeyemi",
        "funke.adeyemi@example.com",
        "+234 806 555 0111",
        "8 Herbert Macaulay Way, Yaba, Lagos",
    ),
    "bola": Customer(
        "Bola Ahmed",
        "bola.ahmed@example.com",
        "+234 807 555 0165",
        "3 Abraham Adesanya Road, Ajah, Lagos",
    ),
    "ifeoma": Customer(
        "Ifeoma Chukwu",
        "ifeoma.chukwu@example.com",
        "+234 808 555 0138",
        "21 Allen Avenue, Ikeja, Lagos",
    ),
    "segun": Customer(
        "Segun Balogun",
        "segun.balogun@example.com",
        "+234 701 555 0154",
        "9 Bourdillon Road, Ikoyi, Lagos",
    ),
}

# Finished requests of the past two weeks, for the compliance and breach charts. Each row
# is (days before today, local time, service type, contact method, priority, reply share,
# resolve share). The reply share is the part of the time to the first-response due that
# passed before the first reply, and the resolve share the same for the resolution due.
# A share above 1 means the target was missed.
HISTORY = (
    (15, "09:10", "solar_repair", "phone_call", "high", 0.5, 0.6),
    (14, "10:40", "hvac_servicing", "email", "low", 0.3, 0.5),
    (14, "15:20", "cctv_repair", "site_visit", "medium", 0.4, 0.7),
    (13, "08:45", "electrical_repair", "phone_call", "urgent", 1.4, 0.8),
    (12, "11:30", "smart_home_support", "email", "medium", 0.2, 0.4),
    (11, "13:05", "hvac_repair", "phone_call", "high", 0.6, 0.6),
    (8, "09:25", "solar_installation", "site_visit", "medium", 0.5, 0.9),
    (8, "16:10", "electrical_repair", "email", "high", 0.7, 0.5),
    (7, "10:15", "cctv_installation", "site_visit", "low", 0.3, 0.6),
    (6, "12:40", "hvac_repair", "phone_call", "urgent", 0.8, 1.3),
    (5, "09:05", "solar_repair", "email", "medium", 0.4, 0.5),
    (4, "14:30", "smart_home_setup", "site_visit", "low", 0.2, 0.7),
    (4, "10:00", "electrical_installation", "site_visit", "high", 1.2, 0.6),
    (1, "08:40", "hvac_servicing", "email", "medium", 0.3, 0.2),
)
ACKNOWLEDGED_UNTIL = lagos(YESTERDAY, "12:00")
"""The supervisor acknowledged every alert raised before this instant."""
HISTORY_SUBJECTS = {
    "solar_repair": "Inverter shows a grid fault",
    "solar_installation": "Quote for a 3 kVA solar system",
    "hvac_servicing": "Yearly service of three split units",
    "hvac_repair": "Air conditioner blows warm air",
    "cctv_repair": "Recorder stopped saving footage",
    "cctv_installation": "Cameras for a new shop front",
    "electrical_repair": "Sockets in the kitchen are dead",
    "electrical_installation": "Extra circuit for a borehole pump",
    "smart_home_support": "Smart lights do not follow the schedule",
    "smart_home_setup": "Video doorbell for the gate",
}


@dataclass
class Samples:
    staff: dict[str, Account] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    """Reference of each current request, by customer key."""
    status_tokens: dict[str, str] = field(default_factory=dict)


class Seeder:
    """Writes the sample data as of given instants, firing SLA clocks due before each."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.samples = Samples()

    def _context(self, at: datetime) -> Context:
        ctx = self.server.ctx
        return Context(workspace=ctx.workspace, clock=FrozenClock(at), settings=ctx.settings)

    async def fire_until(self, at: datetime) -> Context:
        """Fire what the worker would have fired up to `at`, and return a context at `at`."""
        ctx = self._context(at)
        await fire_due_clocks(self.server.db, ctx)
        return ctx

    async def staff(self, key: str, role: str, name: str, teams: list[str]) -> Account:
        email = name.lower().replace(" ", ".") + "@brightline.example"
        account = await make_staff(self.server, role, name=name, email=email, teams=teams)
        self.samples.staff[key] = account
        return account

    async def request(
        self,
        at: datetime,
        customer: Customer,
        *,
        service_type: str,
        contact: str,
        priority: str,
        subject: str,
        description: str,
        channel: str = "portal",
    ) -> tickets.CreatedTicket:
        ctx = await self.fire_until(at)
        new = tickets.NewTicket(
            name=customer.name,
            email=customer.email,
            phone=customer.phone if contact != "email" else None,
            service_type=service_type,
            contact_method=contact,
            priority=priority,
            subject=subject,
            description=description,
            site_address=customer.address if contact == "site_visit" else None,
        )
        async with self.server.db.transaction() as session:
            return await tickets.create_ticket(session, ctx, new, channel=channel)

    async def reply(
        self, at: datetime, ticket_id: int, author: Account, body: str, *, public: bool = True
    ) -> None:
        ctx = await self.fire_until(at)
        async with self.server.db.transaction() as session:
            ticket = await self._ticket(session, ctx, ticket_id)
            person = await session.get(User, author.id)
            await tickets.add_agent_reply(
                session, ctx, ticket, author=person, body=body, public=public
            )

    async def status(self, at: datetime, ticket_id: int, status: str, by: Account) -> None:
        ctx = await self.fire_until(at)
        async with self.server.db.transaction() as session:
            ticket = await self._ticket(session, ctx, ticket_id)
            await tickets.change_status(
                session, ctx, ticket, status=status, actor=timeline.actor_for_user(by.id)
            )

    async def assign(self, at: datetime, ticket_id: int, person: Account) -> None:
        ctx = await self.fire_until(at)
        async with self.server.db.transaction() as session:
            ticket = await self._ticket(session, ctx, ticket_id)
            user = await session.get(User, person.id)
            await tickets.assign(session, ctx, ticket, actor=timeline.SYSTEM, assignee=user)

    async def task(
        self,
        at: datetime,
        task_id: int,
        *,
        stage: str | None = None,
        technician: Account | None = None,
    ) -> None:
        """Assign the task to `technician`, then move it to `stage`, as of `at`."""
        ctx = await self.fire_until(at)
        async with self.server.db.transaction() as session:
            task = await session.get(Task, task_id, with_for_update=True)
            assert task is not None, f"task {task_id} not found"
            ticket = await self._ticket(session, ctx, task.ticket_id)
            if technician is not None:
                user = await session.get(User, technician.id)
                await task_service.assign_task(
                    session, ctx, task, ticket, actor=timeline.SYSTEM, assignee=user
                )
            if stage is not None:
                actor = timeline.actor_for_user(technician.id) if technician else timeline.SYSTEM
                await task_service.move_task(session, ctx, task, ticket, stage=stage, actor=actor)

    @staticmethod
    async def _ticket(session: AsyncSession, ctx: Context, ticket_id: int) -> Ticket:
        reference = format_reference(ctx.workspace.spec.reference_prefix, ticket_id)
        return await tickets.access_ticket(session, ctx, reference, lock=True)

    async def dues(self, ticket_id: int) -> dict[str, datetime]:
        """Return the earliest due instant of the ticket's clocks (and its tasks'), by metric."""
        async with self.server.db.read() as session:
            clocks = await session.execute(
                select(SlaClock.metric, func.min(SlaClock.due_at))
                .where(SlaClock.ticket_id == ticket_id, SlaClock.due_at.is_not(None))
                .group_by(SlaClock.metric)
            )
            return {metric: due for metric, due in clocks if due is not None}

    async def acknowledge_until(self, at: datetime, supervisor: Account) -> None:
        """Acknowledge, as of `at`, every open alert raised before `at`."""
        ctx = self._context(at)
        async with self.server.db.transaction() as session:
            person = await session.get(User, supervisor.id)
            assert person is not None
            for alert in (await open_alerts(session, ctx)).alerts:
                if alert.fired_at < at:
                    await acknowledge(session, ctx, clock_id=alert.clock_id, user=person, at=at)

    def keep(self, key: str, created: tickets.CreatedTicket) -> None:
        self.samples.references[key] = tickets.reference_of(self.server.ctx, created.ticket)
        self.samples.status_tokens[key] = created.status_token


async def seed_lagos(server: LiveServer) -> Samples:
    """Write the staff, two weeks of finished requests and this morning's open ones."""
    seeder = Seeder(server)
    agent = await seeder.staff("agent", "agent", "Amaka Obi", ["front_desk"])
    await seeder.staff("agent2", "agent", "Kayode Alabi", ["front_desk"])
    supervisor = await seeder.staff("supervisor", "supervisor", "Kunle Adebayo", ["front_desk"])
    await seeder.staff("admin", "admin", "Yetunde Lawal", [])
    musa = await seeder.staff(
        "technician", "technician", "Musa Ibrahim", ["solar_crew", "electrical_crew"]
    )
    chinedu = await seeder.staff("hvac", "technician", "Chinedu Okeke", ["hvac_crew"])
    await seeder.staff("cctv", "technician", "Aisha Bello", ["security_crew", "smart_home_crew"])
    crews = {"solar": musa, "electrical": musa, "hvac": chinedu}
    await _history(seeder, agent, crews)
    await _this_week(seeder, agent, supervisor, musa, chinedu)
    await seeder.acknowledge_until(ACKNOWLEDGED_UNTIL, supervisor)
    await seeder.fire_until(NOW)
    return seeder.samples


async def _history(seeder: Seeder, agent: Account, crews: dict[str, Account]) -> None:
    customers = list(CUSTOMERS.values())
    for index, row in enumerate(HISTORY):
        days_ago, at, service_type, contact, priority, reply_share, resolve_share = row
        created_at = lagos(TODAY - timedelta(days=days_ago), at)
        created = await seeder.request(
            created_at,
            customers[index % len(customers)],
            service_type=service_type,
            contact=contact,
            priority=priority,
            subject=HISTORY_SUBJECTS[service_type],
            description="Please send someone to look at it.",
            channel=("portal", "widget", "api", "email")[index % 4],
        )
        ticket_id = created.ticket.id
        dues = await seeder.dues(ticket_id)
        await seeder.reply(
            created_at + (dues["first_response"] - created_at) * reply_share,
            ticket_id,
            agent,
            "Thank you, we have booked a technician and will confirm the time.",
        )
        # Field work ends before the ticket is resolved, within its own target if it can.
        work_due = min(dues.get("operational", dues["resolution"]), dues["resolution"])
        done_at = created_at + (work_due - created_at) * resolve_share
        resolved_at = created_at + (dues["resolution"] - created_at) * resolve_share
        technician = crews.get(created.ticket.pipeline)
        for task in created.tasks:
            await seeder.task(created_at + timedelta(minutes=5), task.id, technician=technician)
            await seeder.task(done_at, task.id, stage="done")
        await seeder.status(max(resolved_at, done_at), ticket_id, "resolved", agent)


async def _this_week(
    seeder: Seeder, agent: Account, supervisor: Account, musa: Account, chinedu: Account
) -> None:
    bola = await seeder.request(
        lagos(TODAY - timedelta(days=5), "09:30"),
        CUSTOMERS["bola"],
        service_type="solar_installation",
        contact="site_visit",
        priority="medium",
        subject="5 kVA solar system for a duplex",
        description="We want panels, an inverter and batteries to run the house at night.",
    )
    seeder.keep("bola", bola)
    await seeder.reply(
        lagos(TODAY - timedelta(days=5), "10:15"),
        bola.ticket.id,
        agent,
        "Thank you, Bola. Musa from our solar crew will survey the roof and your load first.",
    )
    survey, installation = bola.tasks
    await seeder.task(lagos(TODAY - timedelta(days=5), "10:20"), survey.id, technician=musa)
    await seeder.task(lagos(TODAY - timedelta(days=4), "11:00"), survey.id, stage="done")
    await seeder.task(lagos(YESTERDAY, "08:00"), installation.id, technician=musa)
    await seeder.task(lagos(YESTERDAY, "08:05"), installation.id, stage="in_progress")

    funke = await seeder.request(
        lagos(TODAY - timedelta(days=4), "14:00"),
        CUSTOMERS["funke"],
        service_type="smart_home_setup",
        contact="site_visit",
        priority="low",
        subject="Smart locks for the main gate and the back door",
        description="Two smart locks that we can open from our phones.",
        channel="widget",
    )
    seeder.keep("funke", funke)
    await seeder.reply(
        lagos(TODAY - timedelta(days=4), "15:00"),
        funke.ticket.id,
        agent,
        "We can fit both locks next week; our smart-home crew will call you to agree a day.",
    )
    await seeder.task(lagos(YESTERDAY, "09:00"), funke.tasks[0].id, stage="scheduled")

    ifeoma = await seeder.request(
        lagos(YESTERDAY, "09:00"),
        CUSTOMERS["ifeoma"],
        service_type="hvac_servicing",
        contact="email",
        priority="low",
        subject="Service four split units before the hot season",
        description="Four units in the office, 1.5 hp each, last serviced a year ago.",
    )
    seeder.keep("ifeoma", ifeoma)
    await seeder.reply(
        lagos(YESTERDAY, "09:45"),
        ifeoma.ticket.id,
        agent,
        "Chinedu will service the units; he will bring gas for two of them.",
    )
    await seeder.task(lagos(YESTERDAY, "10:00"), ifeoma.tasks[0].id, technician=chinedu)
    await seeder.task(lagos(YESTERDAY, "14:00"), ifeoma.tasks[0].id, stage="waiting_parts")

    emeka = await seeder.request(
        lagos(YESTERDAY, "10:00"),
        CUSTOMERS["emeka"],
        service_type="cctv_repair",
        contact="phone_call",
        priority="medium",
        subject="Two cameras offline at the warehouse",
        description="Cameras 3 and 4 show 'no signal' since the storm on Sunday night.",
        channel="widget",
    )
    seeder.keep("emeka", emeka)
    await seeder.reply(
        lagos(YESTERDAY, "10:40"),
        emeka.ticket.id,
        agent,
        "Sorry about the cameras, Emeka. Could you send us the model of the recorder "
        "and a photo of its back panel? Then we know which parts to bring.",
    )
    await seeder.status(lagos(YESTERDAY, "10:41"), emeka.ticket.id, "waiting_on_customer", agent)

    chiamaka = await seeder.request(
        lagos(YESTERDAY, "16:10"),
        CUSTOMERS["chiamaka"],
        service_type="solar_repair",
        contact="phone_call",
        priority="high",
        subject="Inverter shuts down every evening",
        description="Since Saturday the inverter beeps three times and shuts down around "
        "7 pm, when the batteries still show 60%.",
    )
    seeder.keep("chiamaka", chiamaka)
    await seeder.assign(lagos(YESTERDAY, "16:15"), chiamaka.ticket.id, agent)
    await seeder.task(lagos(YESTERDAY, "16:20"), chiamaka.tasks[0].id, technician=musa)

    segun = await seeder.request(
        lagos(TODAY, "09:15"),
        CUSTOMERS["segun"],
        service_type="electrical_installation",
        contact="site_visit",
        priority="high",
        subject="Rewire the new shop extension",
        description="The extension needs lighting, twelve sockets and a separate AC circuit.",
    )
    seeder.keep("segun", segun)
    await seeder.reply(
        lagos(TODAY, "09:40"),
        segun.ticket.id,
        agent,
        "Musa can survey the extension this afternoon between 2 and 4 pm.",
    )
    await seeder.task(lagos(TODAY, "09:45"), segun.tasks[0].id, technician=musa)
    await seeder.task(lagos(TODAY, "09:50"), segun.tasks[0].id, stage="scheduled")

    tunde = await seeder.request(
        lagos(TODAY, "08:05"),
        CUSTOMERS["tunde"],
        service_type="electrical_repair",
        contact="site_visit",
        priority="medium",
        subject="Office lights trip the breaker",
        description="The breaker for the first floor trips whenever the lights are switched on.",
    )
    seeder.keep("tunde", tunde)

    ngozi = await seeder.request(
        lagos(TODAY, "11:02"),
        CUSTOMERS["ngozi"],
        service_type="hvac_repair",
        contact="email",
        priority="urgent",
        subject="Server room air conditioner leaking",
        description="Water is dripping from the indoor unit above the server rack.",
        channel="widget",
    )
    seeder.keep("ngozi", ngozi)
    await seeder.assign(lagos(TODAY, "11:05"), ngozi.ticket.id, supervisor)
