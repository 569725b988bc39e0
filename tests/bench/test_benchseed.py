"""The benchmark data generator: a tiny dataset has the shape the list queries and the API rely on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import load_actor
from fixflow.accounts.models import Member, MemberRole
from fixflow.accounts.service import authenticate
from fixflow.benchseed import (
    BENCH_PASSWORD,
    BenchSizes,
    customer_admin_login,
    customer_login,
    dispatcher_login,
    seed_bench,
)
from fixflow.catalogs.models import TicketCounter
from fixflow.config import Settings
from fixflow.objects.models import ServiceObject
from fixflow.ratings.models import Rating
from fixflow.tenants.models import Company
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.models import Ticket, TicketExecutor, TicketHistory, TicketWork
from fixflow.tickets.queries import TicketView
from fixflow.tickets.service import TicketDraft, create_ticket
from fixflow.workflow.models import Stage

TICKETS = 200


def _count(session: Session, model: Any, tenant_id: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id)) or 0
    )


def test_tiny_dataset_has_the_promised_shape(session: Session, settings: Settings) -> None:
    sizes = BenchSizes.for_tickets(TICKETS, companies=4, members=12, objects=30, executors=3)
    domain = f"{uuid.uuid4().hex[:8]}.bench.test"
    report = seed_bench(session, sizes, slug=f"bench-{uuid.uuid4().hex[:8]}", domain=domain)
    tid = report.tenant_id

    assert _count(session, Ticket, tid) == TICKETS
    assert _count(session, Company, tid) == 4 + 1  # the customers and the service company itself
    assert _count(session, Member, tid) == 12 + 3 + 2  # customers, executors, owner and dispatcher
    assert _count(session, ServiceObject, tid) == 30
    equipment = session.scalar(
        select(func.count()).where(ServiceObject.tenant_id == tid, ServiceObject.parent_id.is_not(None))
    )
    assert equipment and equipment > 10
    assert _count(session, MemberRole, tid) == 17

    # Every ticket has its creation in history, ~10 rows on average, and a unique number.
    history = _count(session, TicketHistory, tid)
    assert 6 * TICKETS <= history <= 14 * TICKETS
    created = session.scalar(
        select(func.count(func.distinct(TicketHistory.ticket_id))).where(
            TicketHistory.tenant_id == tid, TicketHistory.kind == HistoryKind.CREATED
        )
    )
    assert created == TICKETS
    numbers = session.scalars(select(Ticket.number).where(Ticket.tenant_id == tid)).all()
    assert len(set(numbers)) == TICKETS

    # Mostly closed, some open; what the services would have set is set.
    closed = session.scalar(
        select(func.count()).where(Ticket.tenant_id == tid, Ticket.closed_at.is_not(None))
    )
    assert closed is not None and 0.5 * TICKETS < closed < 0.9 * TICKETS
    start_stage = session.scalar(select(Stage.id).where(Stage.tenant_id == tid, Stage.is_start.is_(True)))
    assigned = session.scalar(
        select(func.count(func.distinct(TicketExecutor.ticket_id))).where(TicketExecutor.tenant_id == tid)
    )
    assert assigned and assigned > TICKETS // 2
    unassigned_new = session.scalar(
        select(func.count()).where(
            Ticket.tenant_id == tid,
            Ticket.stage_id == start_stage,
            Ticket.id.in_(select(TicketExecutor.ticket_id)),
        )
    )
    assert unassigned_new == 0
    assert _count(session, TicketWork, tid) > 0
    assert _count(session, Rating, tid) > 0
    counter = session.scalar(select(TicketCounter.value).where(TicketCounter.tenant_id == tid))
    assert counter == TICKETS

    # The people log in with the one password, see their own tickets, and a new ticket gets a new number.
    member = authenticate(session, settings, login=customer_login(1, domain), password=BENCH_PASSWORD)
    customer = load_actor(session, member)
    page = list_tickets(session, customer, TicketView.ARCHIVE, TicketFilters(), limit=100)
    assert page.items
    seen = set(session.scalars(select(Ticket.initiator_id).where(Ticket.id.in_([c.id for c in page.items]))))
    assert seen == {customer.member_id}
    authenticate(session, settings, login=customer_admin_login(1, domain), password=BENCH_PASSWORD)
    authenticate(session, settings, login=dispatcher_login(domain), password=BENCH_PASSWORD)
    some_object = session.scalar(
        select(ServiceObject.id).where(ServiceObject.company_id.in_(customer.company_ids)).limit(1)
    )
    assert some_object is not None
    type_id = session.scalar(select(Ticket.type_id).where(Ticket.tenant_id == tid).limit(1))
    assert type_id is not None
    fresh = create_ticket(
        session, customer, TicketDraft(type_id=type_id, object_id=some_object, description="x")
    )
    assert fresh.number not in set(numbers)
