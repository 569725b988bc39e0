"""Generation of planned tickets (spec/planning-and-fields.md §1): timing, ticket contents, skips,
idempotence, bounded batches, crash safety and two concurrent workers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from builders import World, make_world
from fixflow.accounts.models import Member
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.core.db import Database
from fixflow.core.errors import FieldProblem
from fixflow.jobs.models import Job, OutboxEvent
from fixflow.jobs.registry import JOB_HANDLERS, PERIODIC_TASKS
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.objects.service import create_object
from fixflow.planning import generation, tasks
from fixflow.planning.generation import generate_batch, generate_due
from fixflow.planning.models import Plan, PlanObject, PlanOccurrence, SkipReason
from fixflow.planning.recurrence import Recurrence
from fixflow.planning.service import PlanDraft, create_plan, pause_plan, resume_plan, update_plan
from fixflow.planning.tasks import GENERATE_JOB
from fixflow.tickets.extensions import EXTENSIONS, NoTicketFields
from fixflow.tickets.models import Ticket, TicketExecutor, TicketHistory
from fixflow.workflow.models import Lifecycle, Stage

UTC = dt.UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(text: str) -> dt.datetime:
    """A naive wall-clock time, read in each object's own zone."""
    return dt.datetime.fromisoformat(text)


def new_object(
    session: Session, world: World, name: str, *, tz: str | None = None, company: str = "a"
) -> int:
    types = {
        t.name: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == world.tenant_id))
    }
    obj = create_object(
        session,
        tenant_id=world.tenant_id,
        name=name,
        type_id=types["Площадка"],
        company_id=world.company_a if company == "a" else world.company_b,
        address=f"{name} street 1",
        timezone=tz,
    )
    return obj.id


def make_plan(
    session: Session,
    world: World,
    *,
    objects: list[int] | None = None,
    rule: Recurrence | str | None = None,
    first: dt.datetime = local("2026-01-05T09:00"),
    created: dt.datetime = utc(2026, 1, 1),
    **extra: Any,
) -> Plan:
    draft = PlanDraft(
        name=extra.pop("name", "Pump maintenance"),
        ticket_type_id=world.type_id,
        work_type_id=extra.pop("work_type_id", world.work_type_id),
        object_ids=objects or [world.objects_a[0]],
        description=extra.pop("description", "Check the pump"),
        recurrence=rule or Recurrence.daily(),
        first_local=first,
        **extra,
    )
    return create_plan(session, world.dispatcher.actor, draft, now=created)


def run(session: Session, now: dt.datetime, world: World, *, limit: int = 1000) -> tuple[int, int]:
    """Every batch until nothing is due; (generated, skipped)."""
    made = skipped = 0
    for _ in range(1000):
        result = generate_batch(session, now=now, limit=limit, tenant_id=world.tenant_id)
        made, skipped = made + result.generated, skipped + result.skipped
        if not result.more:
            return made, skipped
    raise AssertionError("generation did not finish")


def tickets(session: Session, world: World, **where: Any) -> list[Ticket]:
    stmt = select(Ticket).where(Ticket.tenant_id == world.tenant_id).order_by(Ticket.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(Ticket, key) == value)
    return list(session.scalars(stmt))


def occurrences_of(session: Session, plan: Plan) -> list[PlanOccurrence]:
    return list(
        session.scalars(
            select(PlanOccurrence)
            .where(PlanOccurrence.plan_id == plan.id)
            .order_by(PlanOccurrence.occurrence_at, PlanOccurrence.object_id)
        )
    )


def generated_times(session: Session, plan: Plan, object_id: int | None = None) -> list[dt.datetime]:
    rows = occurrences_of(session, plan)
    return [r.occurrence_at for r in rows if r.ticket_id is not None and object_id in (None, r.object_id)]


# --------------------------------------------------------------------------- when


def test_month_end_clamps_through_generation(session: Session, sworld: World) -> None:
    plan = make_plan(
        session,
        sworld,
        rule=Recurrence.monthly_on_day(31),
        first=local("2028-01-31T10:00"),
        created=utc(2028, 1, 1),
    )
    assert run(session, utc(2028, 4, 1), sworld) == (3, 0)
    # 10:00 Moscow = 07:00 UTC; 2028 is a leap year.
    assert generated_times(session, plan) == [utc(2028, 1, 31, 7), utc(2028, 2, 29, 7), utc(2028, 3, 31, 7)]
    plan2 = make_plan(
        session,
        sworld,
        rule=Recurrence.monthly_on_day(31),
        first=local("2027-01-31T10:00"),
        created=utc(2027, 1, 1),
    )
    run(session, utc(2027, 4, 1), sworld)
    assert [t.date() for t in generated_times(session, plan2)] == [
        dt.date(2027, 1, 31),
        dt.date(2027, 2, 28),
        dt.date(2027, 3, 31),
    ]


def test_dst_gap_moves_forward_and_overlap_takes_the_first(session: Session, sworld: World) -> None:
    berlin = new_object(session, sworld, "Berlin", tz="Europe/Berlin")
    plan = make_plan(
        session, sworld, objects=[berlin], first=local("2026-03-28T02:30"), created=utc(2026, 3, 1)
    )
    run(session, utc(2026, 3, 30, 12), sworld)
    times = generated_times(session, plan)
    # 28 Mar 02:30 CET = 01:30Z; 29 Mar 02:30 does not exist → 03:30 CEST = 01:30Z;
    # 30 Mar 02:30 CEST = 00:30Z.
    assert times == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    fall = make_plan(
        session, sworld, objects=[berlin], first=local("2026-10-25T02:30"), created=utc(2026, 10, 1)
    )
    run(session, utc(2026, 10, 25, 12), sworld)
    assert generated_times(session, fall) == [utc(2026, 10, 25, 0, 30)]  # 02:30 CEST, the first of the two


def test_each_object_uses_its_own_timezone(session: Session, sworld: World) -> None:
    moscow = new_object(session, sworld, "Moscow", tz="Europe/Moscow")
    novosibirsk = new_object(session, sworld, "Novosibirsk", tz="Asia/Novosibirsk")
    inherited = sworld.objects_a[1]  # equipment without a zone: the tenant's (Moscow)
    plan = make_plan(
        session, sworld, objects=[moscow, novosibirsk, inherited], rule=Recurrence.daily().ending(count=1)
    )
    assert run(session, utc(2026, 1, 5, 12), sworld) == (3, 0)
    assert generated_times(session, plan, moscow) == [utc(2026, 1, 5, 6)]
    assert generated_times(session, plan, novosibirsk) == [utc(2026, 1, 5, 2)]
    assert generated_times(session, plan, inherited) == [utc(2026, 1, 5, 6)]
    # Between the two instants only Novosibirsk is due.
    plan2 = make_plan(session, sworld, objects=[moscow, novosibirsk], first=local("2026-02-01T09:00"))
    assert run(session, utc(2026, 2, 1, 3), sworld) == (1, 0)
    assert [r.object_id for r in occurrences_of(session, plan2)] == [novosibirsk]


def test_lead_time_creates_the_ticket_early(session: Session, sworld: World) -> None:
    plan = make_plan(
        session,
        sworld,
        first=local("2026-01-10T09:00"),
        lead_minutes=3 * 24 * 60,
        rule=Recurrence.weekly((5,)),
    )
    occurrence = utc(2026, 1, 10, 6)
    assert run(session, occurrence - dt.timedelta(days=3, minutes=1), sworld) == (0, 0)
    assert run(session, occurrence - dt.timedelta(days=3), sworld) == (1, 0)
    assert generated_times(session, plan) == [occurrence]
    ticket = tickets(session, sworld)[0]
    assert ticket.created_at == occurrence - dt.timedelta(days=3)


def test_ticket_is_the_one_create_ticket_would_make(session: Session, sworld: World) -> None:
    work_type = session.get(WorkType, sworld.work_type_id)
    assert work_type is not None
    plan = make_plan(
        session,
        sworld,
        objects=[sworld.objects_a[1]],
        deadline_offset_minutes=90,
        executor_ids=[sworld.executor.id, sworld.executor2.id],
        description="  Check the pump  ",
    )
    now = utc(2026, 1, 5, 7)
    assert run(session, now, sworld) == (1, 0)
    ticket = tickets(session, sworld)[0]
    ticket_type = session.get(TicketType, sworld.type_id)
    assert ticket_type is not None
    lifecycle = session.get(Lifecycle, ticket_type.lifecycle_id)
    start = session.scalar(
        select(Stage).where(Stage.lifecycle_id == ticket_type.lifecycle_id, Stage.is_start)
    )
    default = session.scalar(
        select(Criticality).where(Criticality.tenant_id == sworld.tenant_id, Criticality.is_default)
    )
    assert lifecycle is not None and start is not None and default is not None
    occurrence = utc(2026, 1, 5, 6)
    closing = min(ticket_type.closing_minutes, work_type.closing_minutes)
    assert (ticket.source, ticket.stage_id, ticket.status_id) == (
        "planned",
        start.id,
        lifecycle.start_status_id,
    )
    assert (ticket.description, ticket.work_type_id, ticket.criticality_id) == (
        "Check the pump",
        work_type.id,
        default.id,
    )
    assert (ticket.company_id, ticket.object_id, ticket.address) == (
        sworld.company_a,
        sworld.objects_a[1],
        "Addr A",
    )
    assert ticket.initiator_id == sworld.dispatcher.id == plan.author_id
    assert ticket.deadline == occurrence + dt.timedelta(minutes=closing + 90)
    assert ticket.created_at == now and ticket.version == 1 and ticket.number.startswith("2601-")
    executors = set(
        session.scalars(select(TicketExecutor.member_id).where(TicketExecutor.ticket_id == ticket.id))
    )
    assert executors == {sworld.executor.id, sworld.executor2.id}
    history = session.execute(
        select(TicketHistory.kind, TicketHistory.new, TicketHistory.actor_id).where(
            TicketHistory.ticket_id == ticket.id
        )
    ).all()
    assert sorted((k, n if k != "created" else None) for k, n, _ in history) == [
        ("created", None),
        ("executor_added", sworld.executor.id),
        ("executor_added", sworld.executor2.id),
    ]
    assert {a for _, _, a in history} == {sworld.dispatcher.id}
    events = session.scalars(select(OutboxEvent.kind).where(OutboxEvent.ticket_id == ticket.id)).all()
    assert sorted(events) == ["ticket.created", "ticket.executor_assigned", "ticket.executor_assigned"]
    row = occurrences_of(session, plan)[0]
    assert (row.ticket_id, row.status, row.occurrence_at) == (ticket.id, "generated", occurrence)


def test_numbers_are_unique_and_continue_the_type_counter(session: Session, sworld: World) -> None:
    from builders import make_ticket

    before = make_ticket(session, sworld)
    make_plan(session, sworld, objects=sworld.objects_a)
    run(session, utc(2026, 1, 7, 12), sworld)
    after = make_ticket(session, sworld)
    numbers = [t.number.split("-")[1] for t in tickets(session, sworld)]
    assert len(numbers) == len(set(numbers)) == 8
    assert int(before.number.split("-")[1]) < int(after.number.split("-")[1])


# --------------------------------------------------------------------------- pause, downtime, skips


def test_pause_and_resume_do_not_back_fill(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)  # daily 09:00 Moscow from 5 Jan
    run(session, utc(2026, 1, 6, 12), sworld)
    assert len(generated_times(session, plan)) == 2  # 5 and 6 Jan
    pause_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 6, 12))
    assert run(session, utc(2026, 1, 9, 12), sworld) == (0, 0)  # nothing while paused
    resume_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 9, 12))
    assert run(session, utc(2026, 1, 10, 12), sworld) == (1, 0)
    assert [t.day for t in generated_times(session, plan)] == [5, 6, 10]  # 7, 8 and 9 Jan not back-filled


def test_an_idle_worker_catches_up_everything_that_fell_due(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    run(session, utc(2026, 1, 5, 12), sworld)
    # The worker was down from the 6th to the 10th: nothing was paused, so every day is generated.
    assert run(session, utc(2026, 1, 10, 12), sworld) == (5, 0)
    assert [t.day for t in generated_times(session, plan)] == [5, 6, 7, 8, 9, 10]


def test_what_fell_due_while_the_worker_was_down_survives_a_pause_or_a_new_rule(
    session: Session, sworld: World
) -> None:
    paused = make_plan(session, sworld, name="Paused")
    edited = make_plan(session, sworld, name="Edited", objects=[sworld.objects_a[1]])
    run(session, utc(2026, 1, 5, 12), sworld)
    # The worker stops; on the 8th a dispatcher pauses one plan and gives the other a new rule.
    pause_plan(session, sworld.dispatcher.actor, paused, now=utc(2026, 1, 8, 12))
    update_plan(session, sworld.dispatcher.actor, edited, version=edited.version,
                changes={"recurrence": Recurrence.weekly((4,))}, now=utc(2026, 1, 8, 12))  # fmt: skip
    assert [t.day for t in generated_times(session, paused)] == [5, 6, 7, 8]
    assert [t.day for t in generated_times(session, edited)] == [5, 6, 7, 8]
    run(session, utc(2026, 1, 16, 12), sworld)
    assert [t.day for t in generated_times(session, paused)] == [5, 6, 7, 8]
    assert [t.day for t in generated_times(session, edited)] == [5, 6, 7, 8, 9, 16]  # Fridays from now on


def test_no_back_fill_before_the_plan_existed(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, first=local("2026-01-01T09:00"), created=utc(2026, 1, 3, 12))
    run(session, utc(2026, 1, 4, 12), sworld)
    assert [t.day for t in generated_times(session, plan)] == [4]


def test_count_ends_the_series(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, rule=Recurrence.daily().ending(count=3))
    assert run(session, utc(2026, 2, 1), sworld) == (3, 0)
    row = session.execute(
        select(PlanObject.pending_from, PlanObject.due_at).where(PlanObject.plan_id == plan.id)
    ).one()
    assert tuple(row) == (utc(2026, 1, 7, 6) + dt.timedelta(microseconds=1), None)


def test_unusable_objects_are_skipped_and_recorded_while_others_proceed(
    session: Session, sworld: World
) -> None:
    deleted = new_object(session, sworld, "Deleted")
    unpublished = new_object(session, sworld, "Unpublished")
    narrowed = new_object(session, sworld, "Narrowed")
    fine = new_object(session, sworld, "Fine")
    plan = make_plan(session, sworld, objects=[deleted, unpublished, narrowed, fine])
    for object_id, change in ((deleted, "deleted_at"), (unpublished, "published"), (narrowed, "allowed")):
        obj = session.get(ServiceObject, object_id)
        assert obj is not None
        if change == "deleted_at":
            obj.deleted_at = utc(2026, 1, 2)
        elif change == "published":
            obj.published = False
        else:
            obj.allowed_work_type_ids = [sworld.work_type_id + 1]
    session.flush()
    assert run(session, utc(2026, 1, 6, 12), sworld) == (2, 6)
    rows = occurrences_of(session, plan)
    reasons = {(r.object_id, r.reason) for r in rows if r.status == "skipped"}
    assert reasons == {
        (deleted, SkipReason.OBJECT_DELETED),
        (unpublished, SkipReason.OBJECT_UNPUBLISHED),
        (narrowed, SkipReason.WORK_TYPE_NOT_ALLOWED),
    }
    assert all(r.ticket_id is None for r in rows if r.status == "skipped")
    assert {t.object_id for t in tickets(session, sworld)} == {fine}
    assert run(session, utc(2026, 1, 6, 12), sworld) == (0, 0)  # a skip is final, not retried


def test_plan_level_problems_skip_every_object(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, objects=sworld.objects_a)
    work_type = session.get(WorkType, sworld.work_type_id)
    assert work_type is not None
    work_type.published = False
    session.flush()
    assert run(session, utc(2026, 1, 5, 12), sworld) == (0, 2)
    assert {r.reason for r in occurrences_of(session, plan)} == {SkipReason.WORK_TYPE_UNAVAILABLE}


def test_a_departed_author_stops_the_plan_with_a_recorded_reason(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    author = session.get(Member, sworld.dispatcher.id)
    assert author is not None
    author.deleted_at = utc(2026, 1, 2)
    session.flush()
    assert run(session, utc(2026, 1, 5, 12), sworld) == (0, 1)
    assert [r.reason for r in occurrences_of(session, plan)] == [SkipReason.AUTHOR_UNAVAILABLE]


def test_additional_field_defaults_apply_and_missing_required_fields_skip(
    session: Session, sworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Fields(NoTicketFields):
        def __init__(self, document: dict[str, Any], problems: list[FieldProblem]) -> None:
            self.document, self.problems, self.calls = document, problems, 0

        def validate_create(
            self, session: Session, actor: Any, ticket_type_id: int, start_stage_id: int, raw: dict[str, Any]
        ) -> tuple[dict[str, Any], list[FieldProblem]]:
            self.calls += 1
            assert actor.member_id == sworld.dispatcher.id and raw == {}
            return dict(self.document), list(self.problems)

    with_defaults = Fields({"floor": 3}, [])
    monkeypatch.setattr(EXTENSIONS, "fields", with_defaults)
    make_plan(session, sworld, objects=sworld.objects_a)
    assert run(session, utc(2026, 1, 6, 12), sworld) == (4, 0)
    assert {str(t.fields) for t in tickets(session, sworld)} == {"{'floor': 3}"}
    assert with_defaults.calls == 1  # once per batch and (author, type), not per ticket
    monkeypatch.setattr(EXTENSIONS, "fields", Fields({}, [FieldProblem("fields.floor", "Required")]))
    assert run(session, utc(2026, 1, 7, 12), sworld) == (0, 2)


# --------------------------------------------------------------------------- idempotence, batches


def test_rerun_creates_nothing_new(session: Session, sworld: World) -> None:
    make_plan(session, sworld, objects=sworld.objects_a)
    assert run(session, utc(2026, 1, 7, 12), sworld) == (6, 0)
    assert run(session, utc(2026, 1, 7, 12), sworld) == (0, 0)
    assert len(tickets(session, sworld)) == 6


def test_a_stale_schedule_never_duplicates(session: Session, sworld: World) -> None:
    """As if another worker had committed the occurrence without this one seeing the schedule move."""
    plan = make_plan(session, sworld)
    run(session, utc(2026, 1, 5, 12), sworld)
    link = session.scalar(select(PlanObject).where(PlanObject.plan_id == plan.id))
    assert link is not None
    link.pending_from, link.due_at = utc(2026, 1, 1), utc(2026, 1, 1)  # rewind
    session.flush()
    assert run(session, utc(2026, 1, 6, 12), sworld) == (1, 0)  # only the 6th is new
    assert [t.day for t in generated_times(session, plan)] == [5, 6]
    assert len(tickets(session, sworld)) == 2


def test_batches_are_bounded_and_resume_where_they_stopped(session: Session, sworld: World) -> None:
    objects = [new_object(session, sworld, f"Site {i}") for i in range(5)]
    make_plan(session, sworld, objects=objects)
    results = []
    while True:
        result = generate_batch(session, now=utc(2026, 1, 8, 12), limit=3, tenant_id=sworld.tenant_id)
        results.append(result)
        if not result.more:
            break
    assert all(r.generated <= 3 for r in results)
    assert sum(r.generated for r in results) == 20  # 5 objects × 4 days
    assert len(tickets(session, sworld)) == 20


# --------------------------------------------------------------------------- worker integration


def test_tasks_are_registered_and_continue_a_backlog(
    session: Session, sworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PERIODIC_TASKS[GENERATE_JOB][0] == 60
    plan = make_plan(session, sworld, objects=sworld.objects_a)
    now = utc(2026, 1, 6, 12)  # 4 occurrences due
    monkeypatch.setattr(tasks, "BATCH", 3)
    monkeypatch.setattr(tasks, "generate_batch", partial(generate_batch, now=now, tenant_id=sworld.tenant_id))
    PERIODIC_TASKS[GENERATE_JOB][1](session)
    assert len(tickets(session, sworld)) == 3
    queued = session.scalars(select(Job).where(Job.kind == GENERATE_JOB, Job.status == "pending")).all()
    assert [j.payload for j in queued] == [{}]
    PERIODIC_TASKS[GENERATE_JOB][1](session)  # a second tick does not start a second chain
    assert session.scalar(select(func.count()).where(Job.kind == GENERATE_JOB, Job.status == "pending")) == 1
    JOB_HANDLERS[GENERATE_JOB](session, {"plan_id": plan.id})
    assert len(tickets(session, sworld)) == 4


# --------------------------------------------------------------------------- committed data: crash, races


@pytest.fixture
def committed(database: Database) -> Iterator[tuple[World, int]]:
    """A committed tenant with one daily plan over ten objects (generation commits per batch)."""
    with database.session(write=True) as s:
        world = make_world(s)
        objects = [
            new_object(s, world, f"Site {i}", tz=("Europe/Moscow", "Asia/Novosibirsk")[i % 2])
            for i in range(10)
        ]
        plan = make_plan(s, world, objects=objects, executor_ids=[world.executor.id])
        plan_id = plan.id
    yield world, plan_id


def _counts(database: Database, world: World) -> tuple[int, int, int, int]:
    with database.session() as s:

        def count(model: Any) -> int:
            return int(
                s.scalar(select(func.count()).select_from(model).where(model.tenant_id == world.tenant_id))
                or 0
            )

        numbers = s.scalar(
            select(func.count(func.distinct(Ticket.number))).where(Ticket.tenant_id == world.tenant_id)
        )
        return count(Ticket), count(PlanOccurrence), count(TicketHistory), int(numbers or 0)


def test_a_crash_mid_batch_leaves_nothing_and_the_next_run_completes(
    database: Database, committed: tuple[World, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = committed
    now = utc(2026, 1, 7, 12)  # 3 days × 10 objects
    real = generation._event

    def explode(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("killed mid-batch")

    monkeypatch.setattr(generation, "_event", explode)  # after the occurrence and ticket inserts
    with pytest.raises(RuntimeError):
        generate_due(database, now=now, batch_size=7, tenant_id=world.tenant_id)
    assert _counts(database, world) == (0, 0, 0, 0)
    with database.session() as s:
        assert set(
            s.scalars(select(PlanObject.pending_from).where(PlanObject.tenant_id == world.tenant_id))
        ) == {utc(2026, 1, 1)}
    monkeypatch.setattr(generation, "_event", real)
    stats = generate_due(database, now=now, batch_size=7, tenant_id=world.tenant_id)
    assert stats.generated == 30 and stats.batches >= 5
    tickets_, occurrences_, history, numbers = _counts(database, world)
    assert tickets_ == occurrences_ == numbers == 30 and history == 60


def test_a_crash_after_some_batches_keeps_them_and_finishes_the_rest(
    database: Database, committed: tuple[World, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = committed
    now = utc(2026, 1, 7, 12)
    calls = {"n": 0}
    real = generation._insert_tickets

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        real(*args, **kwargs)
        if calls["n"] == 3:
            raise RuntimeError("killed in the third batch")

    monkeypatch.setattr(generation, "_insert_tickets", flaky)
    with pytest.raises(RuntimeError):
        generate_due(database, now=now, batch_size=7, tenant_id=world.tenant_id)
    assert _counts(database, world)[0] == 14  # two whole batches, nothing of the third
    monkeypatch.setattr(generation, "_insert_tickets", real)
    generate_due(database, now=now, batch_size=7, tenant_id=world.tenant_id)
    tickets_, occurrences_, _, numbers = _counts(database, world)
    assert tickets_ == occurrences_ == numbers == 30


def test_two_concurrent_workers_never_duplicate(database: Database, committed: tuple[World, int]) -> None:
    """Each worker has its own engine and connections; on SQLite they take turns on the write lock."""
    world, _ = committed
    with database.session(write=True) as s:
        extra = [new_object(s, world, f"More {i}") for i in range(20)]
        make_plan(s, world, objects=extra, rule=Recurrence.daily(), name="Second")
    now = utc(2026, 1, 12, 12)  # 8 days × 30 objects
    errors: list[BaseException] = []
    stats: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        db = Database(database.url)
        try:
            barrier.wait()
            stats.append(generate_due(db, now=now, batch_size=16, tenant_id=world.tenant_id).generated)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(stats) == 240, stats
    tickets_, occurrences_, _, numbers = _counts(database, world)
    assert tickets_ == occurrences_ == numbers == 240
    with database.session() as s:
        pairs = s.execute(
            select(
                PlanOccurrence.plan_id, PlanOccurrence.object_id, PlanOccurrence.occurrence_at, func.count()
            )
            .where(PlanOccurrence.tenant_id == world.tenant_id)
            .group_by(PlanOccurrence.plan_id, PlanOccurrence.object_id, PlanOccurrence.occurrence_at)
            .having(func.count() > 1)
        ).all()
        assert pairs == []
        per_ticket = s.scalar(
            select(func.count(func.distinct(PlanOccurrence.ticket_id))).where(
                PlanOccurrence.tenant_id == world.tenant_id
            )
        )
        assert per_ticket == 240
