"""Plan service rules (spec/planning-and-fields.md §1): validation, edits that apply to the future only,
deletion that keeps tickets, and the computed calendar for staff and customers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, make_world
from fixflow.core.errors import Forbidden, NotFound, ValidationFailed
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.objects.service import create_object
from fixflow.planning.generation import generate_batch
from fixflow.planning.models import Plan, PlanObject, PlanOccurrence, PlanState
from fixflow.planning.queries import get_plan_for_actor, object_planned, plan_occurrences, upcoming_for_actor
from fixflow.planning.recurrence import Recurrence
from fixflow.planning.service import (
    PlanDraft,
    PlanVersionConflict,
    create_plan,
    delete_plan,
    list_plans,
    pause_plan,
    resume_plan,
    update_plan,
)
from fixflow.tickets.models import Ticket

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
    return create_object(
        session,
        tenant_id=world.tenant_id,
        name=name,
        type_id=types["Площадка"],
        company_id=world.company_a if company == "a" else world.company_b,
        address=f"{name} street 1",
        timezone=tz,
    ).id


def draft(world: World, **overrides: Any) -> PlanDraft:
    values: dict[str, Any] = {
        "name": "Pump maintenance",
        "ticket_type_id": world.type_id,
        "work_type_id": world.work_type_id,
        "object_ids": [world.objects_a[0]],
        "description": "Check the pump",
        "recurrence": Recurrence.daily(),
        "first_local": local("2026-01-05T09:00"),
    }
    values.update(overrides)
    return PlanDraft(**values)


def make_plan(
    session: Session, world: World, created: dt.datetime = utc(2026, 1, 1), **overrides: Any
) -> Plan:
    return create_plan(session, world.dispatcher.actor, draft(world, **overrides), now=created)


def run(session: Session, world: World, now: dt.datetime) -> int:
    made = 0
    while True:
        result = generate_batch(session, now=now, tenant_id=world.tenant_id)
        made += result.generated
        if not result.more:
            return made


def plan_tickets(session: Session, world: World) -> list[Ticket]:
    return list(
        session.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id).order_by(Ticket.id))
    )


def problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.errors}


# --------------------------------------------------------------------------- create and validate


def test_create_stores_the_rule_and_schedules_every_object(session: Session, sworld: World) -> None:
    plan = make_plan(
        session,
        sworld,
        object_ids=sworld.objects_a,
        recurrence=Recurrence.monthly_on_weekday(1, 0),
        first_local=local("2026-02-02T08:30"),
        lead_minutes=60,
    )
    assert (plan.rrule, plan.first_local, plan.state) == (
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO",
        "2026-02-02T08:30",
        "active",
    )
    assert plan.author_id == sworld.dispatcher.id and plan.version == 1
    links = session.scalars(select(PlanObject).where(PlanObject.plan_id == plan.id)).all()
    # First Monday of February 08:30 Moscow = 05:30Z, due one hour earlier.
    assert {(x.object_id, x.pending_from, x.due_at) for x in links} == {
        (o, utc(2026, 1, 1), utc(2026, 2, 2, 4, 30)) for o in sworld.objects_a
    }


def test_a_paused_plan_is_not_scheduled(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, state="paused")
    assert session.scalar(select(PlanObject.due_at).where(PlanObject.plan_id == plan.id)) is None


def test_validation_reports_every_problem(session: Session, sworld: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        create_plan(
            session,
            sworld.dispatcher.actor,
            draft(
                sworld,
                name=" ",
                description="",
                object_ids=[],
                recurrence="FREQ=HOURLY",
                first_local=dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
                lead_minutes=-1,
                executor_ids=[sworld.customer_a.id],
                criticality_id=999_999,
            ),
        )
    assert set(problems(exc)) == {
        "name",
        "description",
        "object_ids",
        "recurrence",
        "first_local",
        "lead_minutes",
        "executor_ids",
        "criticality_id",
    }


def test_every_object_must_allow_the_work_type(session: Session, sworld: World) -> None:
    narrowed = new_object(session, sworld, "Narrowed")
    obj = session.get(ServiceObject, narrowed)
    assert obj is not None
    obj.allowed_work_type_ids = [sworld.work_type_id + 1]
    session.flush()
    with pytest.raises(ValidationFailed) as exc:
        make_plan(session, sworld, object_ids=[sworld.objects_a[0], narrowed])
    assert problems(exc) == {"object_ids.1": "This object does not allow the plan's work type"}
    plan = make_plan(session, sworld, object_ids=[sworld.objects_a[0]])
    with pytest.raises(ValidationFailed) as exc:
        update_plan(session, sworld.dispatcher.actor, plan, version=1, changes={"object_ids": [narrowed]})
    assert set(problems(exc)) == {"object_ids.0"}


def test_unusable_or_foreign_objects_are_refused(session: Session, sworld: World) -> None:
    world = make_world(session)
    unpublished = new_object(session, sworld, "Hidden")
    obj = session.get(ServiceObject, unpublished)
    assert obj is not None
    obj.published = False
    session.flush()
    with pytest.raises(ValidationFailed) as exc:
        make_plan(session, sworld, object_ids=[unpublished, world.objects_a[0], 123_456_789])
    assert set(problems(exc)) == {"object_ids.0", "object_ids.1", "object_ids.2"}


def test_only_plan_managers_may_write(session: Session, sworld: World) -> None:
    for person in ("executor", "customer_a", "cadmin_a"):
        with pytest.raises(Forbidden):
            create_plan(session, sworld.people[person].actor, draft(sworld))
    plan = make_plan(session, sworld)
    with pytest.raises(Forbidden):
        pause_plan(session, sworld.executor.actor, plan)
    with pytest.raises(NotFound):
        get_plan_for_actor(session, sworld.customer_a.actor, plan.id)
    assert get_plan_for_actor(session, sworld.executor.actor, plan.id).id == plan.id  # staff may read


def test_plans_of_another_tenant_are_invisible(session: Session, sworld: World) -> None:
    world = make_world(session)
    plan = make_plan(session, sworld)
    with pytest.raises(NotFound):
        get_plan_for_actor(session, world.dispatcher.actor, plan.id)
    assert plan.id not in {p.id for p in list_plans(session, world.dispatcher.actor, limit=100).items}


# --------------------------------------------------------------------------- edits


def test_update_checks_the_version(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    update_plan(session, sworld.dispatcher.actor, plan, version=1, changes={"name": "Renamed"})
    assert plan.version == 2
    with pytest.raises(PlanVersionConflict) as exc:
        update_plan(session, sworld.dispatcher.actor, plan, version=1, changes={"name": "Again"})
    assert exc.value.status == 409 and exc.value.params["current_version"] == 2


def test_edits_apply_to_occurrences_not_yet_generated(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, lead_minutes=24 * 60)
    run(session, sworld, utc(2026, 1, 5, 12))  # 5 Jan and, one day ahead, 6 Jan
    assert [t.description for t in plan_tickets(session, sworld)] == ["Check the pump"] * 2
    update_plan(
        session,
        sworld.dispatcher.actor,
        plan,
        version=plan.version,
        changes={"description": "Replace the filter", "executor_ids": [sworld.executor.id]},
        now=utc(2026, 1, 5, 12),
    )
    run(session, sworld, utc(2026, 1, 6, 12))
    described = [(t.description, t.object_id) for t in plan_tickets(session, sworld)]
    assert described == [("Check the pump", sworld.objects_a[0])] * 2 + [
        ("Replace the filter", sworld.objects_a[0])
    ]


def test_a_new_rule_is_not_back_filled(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, recurrence=Recurrence.weekly((4,)))  # Fridays
    run(session, sworld, utc(2026, 1, 17))  # Fridays 9 and 16 Jan
    assert len(plan_tickets(session, sworld)) == 2
    # On Saturday 17 Jan switch to daily: 10–17 Jan are past occurrences of the new rule.
    update_plan(
        session,
        sworld.dispatcher.actor,
        plan,
        version=plan.version,
        changes={"recurrence": Recurrence.daily()},
        now=utc(2026, 1, 17, 12),
    )
    run(session, sworld, utc(2026, 1, 19, 12))
    days = session.scalars(
        select(PlanOccurrence.occurrence_at).where(PlanOccurrence.plan_id == plan.id)
    ).all()
    assert sorted(d.day for d in days) == [9, 16, 18, 19]


def test_an_object_added_later_is_not_back_filled(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    run(session, sworld, utc(2026, 1, 7, 12))
    later = new_object(session, sworld, "Later")
    update_plan(
        session,
        sworld.dispatcher.actor,
        plan,
        version=plan.version,
        changes={"object_ids": [sworld.objects_a[0], later]},
        now=utc(2026, 1, 7, 12),
    )
    run(session, sworld, utc(2026, 1, 8, 12))
    per_object = [t.object_id for t in plan_tickets(session, sworld)]
    assert per_object.count(sworld.objects_a[0]) == 4 and per_object.count(later) == 1
    # Removing an object stops its generation; its tickets stay.
    update_plan(
        session,
        sworld.dispatcher.actor,
        plan,
        version=plan.version,
        changes={"object_ids": [later]},
        now=utc(2026, 1, 8, 12),
    )
    run(session, sworld, utc(2026, 1, 9, 12))
    per_object = [t.object_id for t in plan_tickets(session, sworld)]
    assert per_object.count(sworld.objects_a[0]) == 4 and per_object.count(later) == 2


def test_delete_keeps_the_tickets_and_stops_generation(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    run(session, sworld, utc(2026, 1, 6, 12))
    delete_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 6, 12))
    assert run(session, sworld, utc(2026, 1, 10, 12)) == 0
    assert len(plan_tickets(session, sworld)) == 2
    assert all(t.deleted_at is None for t in plan_tickets(session, sworld))
    with pytest.raises(NotFound):
        get_plan_for_actor(session, sworld.dispatcher.actor, plan.id)
    assert plan.id not in {p.id for p in list_plans(session, sworld.dispatcher.actor, limit=100).items}


def test_pause_and_resume_are_idempotent(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld)
    pause_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 2))
    version = plan.version
    pause_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 3))
    assert plan.version == version and plan.state == PlanState.PAUSED
    resume_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 8, 12))
    resume_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 9))
    assert plan.resumed_at == utc(2026, 1, 8, 12)
    assert session.scalar(select(PlanObject.due_at).where(PlanObject.plan_id == plan.id)) == utc(
        2026, 1, 9, 6
    )


def test_list_is_keyset_paged_newest_first(session: Session, sworld: World) -> None:
    ids = [make_plan(session, sworld, name=f"P{i}").id for i in range(5)]
    pause_plan(session, sworld.dispatcher.actor, session.get(Plan, ids[0]))  # type: ignore[arg-type]
    seen, cursor = [], None
    while True:
        page = list_plans(session, sworld.dispatcher.actor, limit=2, cursor=cursor)
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert [p.id for p in list_plans(session, sworld.dispatcher.actor, state="paused").items] == [ids[0]]
    by_object = list_plans(session, sworld.dispatcher.actor, object_id=sworld.objects_a[0]).items
    assert {p.id for p in by_object} == set(ids)


# --------------------------------------------------------------------------- the computed calendar


def test_occurrences_are_listed_before_any_ticket_exists(session: Session, sworld: World) -> None:
    moscow = new_object(session, sworld, "Moscow", tz="Europe/Moscow")
    novosibirsk = new_object(session, sworld, "Novosibirsk", tz="Asia/Novosibirsk")
    plan = make_plan(session, sworld, object_ids=[moscow, novosibirsk], recurrence=Recurrence.weekly((0,)))
    items = plan_occurrences(session, sworld.dispatcher.actor, plan.id, utc(2026, 1, 1), utc(2026, 1, 20))
    assert [(i.object_name, i.at, i.status) for i in items] == [
        ("Novosibirsk", utc(2026, 1, 5, 2), "planned"),
        ("Moscow", utc(2026, 1, 5, 6), "planned"),
        ("Novosibirsk", utc(2026, 1, 12, 2), "planned"),
        ("Moscow", utc(2026, 1, 12, 6), "planned"),
        ("Novosibirsk", utc(2026, 1, 19, 2), "planned"),
        ("Moscow", utc(2026, 1, 19, 6), "planned"),
    ]
    assert items[0].local_at.isoformat() == "2026-01-05T09:00:00+07:00"
    run(session, sworld, utc(2026, 1, 12, 4))
    items = plan_occurrences(
        session, sworld.dispatcher.actor, plan.id, utc(2026, 1, 1), utc(2026, 1, 20), limit=4
    )
    assert [i.status for i in items] == ["generated", "generated", "generated", "planned"]
    assert all(i.ticket_id for i in items[:3])
    with pytest.raises(ValidationFailed):
        plan_occurrences(session, sworld.dispatcher.actor, plan.id, utc(2026, 1, 2), utc(2026, 1, 1))


def test_occurrences_show_what_was_not_generated(session: Session, sworld: World) -> None:
    plan = make_plan(session, sworld, created=utc(2026, 1, 6, 12))
    pause_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 6, 12))
    statuses = [
        i.status
        for i in plan_occurrences(
            session, sworld.dispatcher.actor, plan.id, utc(2026, 1, 5), utc(2026, 1, 8, 12)
        )
    ]
    assert statuses == ["not_generated", "not_generated", "paused", "paused"]


def test_customers_see_planned_work_on_their_objects_only(session: Session, sworld: World) -> None:
    own, other = sworld.objects_a[1], sworld.objects_b[1]
    plan = make_plan(session, sworld, object_ids=[own, other], recurrence=Recurrence.weekly((0,)))
    window = (utc(2026, 1, 1), utc(2026, 2, 1))
    for person in ("customer_a", "cadmin_a"):
        items = object_planned(session, sworld.people[person].actor, own, *window)
        assert [(i.plan_id, i.at) for i in items] == [(plan.id, utc(2026, 1, d, 6)) for d in (5, 12, 19, 26)]
        with pytest.raises(NotFound):
            object_planned(session, sworld.people[person].actor, other, *window)
        upcoming = upcoming_for_actor(session, sworld.people[person].actor, *window)
        assert {i.object_id for i in upcoming} == {own}
    assert len(object_planned(session, sworld.dispatcher.actor, other, *window)) == 4
    # Paused plans promise nothing to customers; staff still see them.
    pause_plan(session, sworld.dispatcher.actor, plan, now=utc(2026, 1, 1))
    assert object_planned(session, sworld.customer_a.actor, own, *window) == []
    assert {i.status for i in object_planned(session, sworld.dispatcher.actor, own, *window)} == {"paused"}


def test_customers_do_not_see_skips(session: Session, sworld: World) -> None:
    own = sworld.objects_a[1]
    make_plan(session, sworld, object_ids=[own, sworld.objects_a[0]])
    run(session, sworld, utc(2026, 1, 5, 12))
    obj = session.get(ServiceObject, own)
    assert obj is not None
    obj.allowed_work_type_ids = []
    session.flush()
    run(session, sworld, utc(2026, 1, 6, 12))
    window = (utc(2026, 1, 5), utc(2026, 1, 8))
    staff = object_planned(session, sworld.dispatcher.actor, own, *window)
    assert [i.status for i in staff] == ["generated", "skipped", "planned"]
    assert staff[1].reason == "work_type_not_allowed"
    customer = object_planned(session, sworld.customer_a.actor, own, *window)
    assert [i.status for i in customer] == ["generated", "planned"]
