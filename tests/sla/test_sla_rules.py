"""SLA rules: matching, tie-breaks, working-time deadlines on real tickets, manual deadlines, overdue."""

from __future__ import annotations

import datetime as dt
from datetime import UTC

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.catalogs.models import Criticality, TicketType
from fixflow.core.db import Database, utcnow
from fixflow.core.errors import Forbidden, ValidationFailed
from fixflow.sla import service
from fixflow.sla.deadlines import compute_deadline, load_rules
from fixflow.sla.models import SlaRule
from fixflow.sla.rules import RuleSpec, TicketKey, choose_rule, rule_deadline
from fixflow.sla.worktime import WorkSchedule, schedule_from_dict
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.queries import TicketView
from fixflow.tickets.service import update_ticket

OFFICE = {
    "timezone": "Europe/Moscow",
    "week": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}
MSK = dt.timezone(dt.timedelta(hours=3))


def _msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


KEY = TicketKey(
    ticket_type_id=1,
    criticality_id=2,
    work_type_id=3,
    company_id=4,
    object_and_ancestor_ids=frozenset({5, 50}),
)


def _rule(
    rule_id: int, minutes: int, schedule: WorkSchedule | None = None, **lists: frozenset[int]
) -> RuleSpec:
    return RuleSpec(id=rule_id, minutes=minutes, schedule=schedule or WorkSchedule.always("UTC"), **lists)


def test_any_list_matches_and_each_given_list_must_contain_the_value() -> None:
    now = _msk(2026, 12, 3, 12)
    assert choose_rule([_rule(1, 60)], KEY, now) is not None
    assert choose_rule([_rule(1, 60, criticality_ids=frozenset({9}))], KEY, now) is None
    assert (
        choose_rule([_rule(1, 60, company_ids=frozenset({4}), work_type_ids=frozenset({3}))], KEY, now)
        is not None
    )
    # an object rule covers the object's descendants (the key carries the ancestors)
    assert choose_rule([_rule(1, 60, object_ids=frozenset({50}))], KEY, now) is not None
    assert choose_rule([_rule(1, 60, object_ids=frozenset({51}))], KEY, now) is None


def test_prefer_the_schedule_covering_now_then_the_shortest_time() -> None:
    office = schedule_from_dict(OFFICE)
    saturday = _msk(2026, 12, 5, 12)
    weekday = _msk(2026, 12, 3, 12)
    short_office, long_always = _rule(1, 60, office), _rule(2, 600)
    assert choose_rule([short_office, long_always], KEY, saturday) == long_always
    assert choose_rule([short_office, long_always], KEY, weekday) == short_office
    assert choose_rule([_rule(3, 120), _rule(4, 90)], KEY, weekday).id == 4  # type: ignore[union-attr]


def _office_rule(session: Session, world: World, minutes: int, **lists: list[int]) -> None:
    owner = world.owner.actor
    schedule = service.create_schedule(session, owner, name="Office", definition=OFFICE)
    service.create_rule(
        session, owner, {"name": "r", "schedule_id": schedule.id, "minutes": minutes, **lists}
    )


@pytest.mark.parametrize(
    ("created", "hours", "expected"),
    [
        (_msk(2026, 12, 3, 17), 6, _msk(2026, 12, 4, 14)),  # Thu 17:00 + 6 h → Fri 14:00
        (_msk(2026, 11, 30, 9), 45, _msk(2026, 12, 4, 18)),  # Mon 09:00 + 45 h → Fri 18:00
    ],
)
def test_spec_examples_through_the_tenant_rules(
    session: Session, sworld: World, created: dt.datetime, hours: int, expected: dt.datetime
) -> None:
    _office_rule(session, sworld, hours * 60)
    ticket_type = session.get(TicketType, sworld.type_id)
    assert ticket_type is not None
    deadline = compute_deadline(
        session,
        created_at=created,
        ticket_type=ticket_type,
        work_type=None,
        criticality_id=None,
        company_id=sworld.company_a,
        object_id=sworld.objects_a[1],
    )
    assert deadline == expected


def test_new_ticket_gets_the_rule_deadline_else_the_closing_time(session: Session, sworld: World) -> None:
    plain = make_ticket(session, sworld)
    assert plain.deadline == plain.created_at + dt.timedelta(minutes=3 * 24 * 60)
    _office_rule(session, sworld, 30, company_ids=[sworld.company_a])
    ruled = make_ticket(session, sworld)
    rules = load_rules(session, sworld.tenant_id)
    from fixflow.sla.rules import rule_deadline

    assert ruled.deadline == rule_deadline(rules[0], ruled.created_at)
    other_company = make_ticket(session, sworld, by="customer_b")
    assert other_company.deadline == other_company.created_at + dt.timedelta(minutes=3 * 24 * 60)


def test_each_committed_edit_of_the_rules_decides_the_next_creations_deadline(
    database: Database, world: World
) -> None:
    """Creations read the rules from the configuration cache; an edit must reach the next one."""
    three_days = dt.timedelta(days=3)
    with database.session(write=True) as s:
        _office_rule(s, world, 30, company_ids=[world.company_a])
    with database.session(write=True) as s:
        ruled = make_ticket(s, world)
        (rule,) = load_rules(s, world.tenant_id)
    assert rule.minutes == 30 and ruled.deadline == rule_deadline(rule, ruled.created_at)
    with database.session(write=True) as s:
        stored = s.scalars(select(SlaRule).where(SlaRule.tenant_id == world.tenant_id)).one()
        service.update_rule(s, world.owner.actor, stored, {"minutes": 90})
    with database.session(write=True) as s:
        later = make_ticket(s, world)
        (rule,) = load_rules(s, world.tenant_id)
    assert rule.minutes == 90 and later.deadline == rule_deadline(rule, later.created_at)
    with database.session(write=True) as s:
        stored = s.scalars(select(SlaRule).where(SlaRule.tenant_id == world.tenant_id)).one()
        service.delete_rule(s, world.owner.actor, stored)
    with database.session(write=True) as s:
        last = make_ticket(s, world)
    assert last.deadline == last.created_at + three_days


def test_changing_criticality_recomputes_an_automatic_deadline_but_keeps_a_manual_one(
    session: Session, sworld: World
) -> None:
    crits = session.scalars(
        select(Criticality).where(Criticality.tenant_id == sworld.tenant_id).order_by(Criticality.id)
    ).all()
    owner = sworld.owner.actor
    schedule = service.create_schedule(
        session,
        owner,
        name="24x7",
        definition={
            "timezone": "UTC",
            "week": {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        },
    )
    service.create_rule(
        session,
        owner,
        {"name": "urgent", "schedule_id": schedule.id, "minutes": 120, "criticality_ids": [crits[-1].id]},
    )
    ticket = make_ticket(session, sworld)
    dispatcher = sworld.dispatcher.actor
    update_ticket(
        session, dispatcher, ticket, version=ticket.version, changes={"criticality_id": crits[-1].id}
    )
    assert ticket.deadline == ticket.created_at + dt.timedelta(hours=2)
    manual = utcnow() + dt.timedelta(days=10)
    update_ticket(session, dispatcher, ticket, version=ticket.version, changes={"deadline": manual})
    update_ticket(
        session, dispatcher, ticket, version=ticket.version, changes={"criticality_id": crits[0].id}
    )
    assert ticket.deadline == manual and ticket.deadline_manual


def test_overdue_flag_and_filter(session: Session, sworld: World) -> None:
    late = make_ticket(session, sworld, description="late one")
    on_time = make_ticket(session, sworld, description="on time")
    update_ticket(
        session,
        sworld.dispatcher.actor,
        late,
        version=late.version,
        changes={"deadline": utcnow() - dt.timedelta(hours=1)},
    )
    session.flush()
    actor = sworld.dispatcher.actor
    overdue = list_tickets(session, actor, TicketView.ALL, TicketFilters(overdue=True))
    assert [c.id for c in overdue.items] == [late.id]
    assert overdue.items[0].is_overdue
    not_overdue = list_tickets(session, actor, TicketView.ALL, TicketFilters(overdue=False))
    assert on_time.id in [c.id for c in not_overdue.items] and late.id not in [
        c.id for c in not_overdue.items
    ]


def test_only_sla_admins_configure_and_bad_input_is_refused(session: Session, sworld: World) -> None:
    with pytest.raises(Forbidden):
        service.create_schedule(session, sworld.dispatcher.actor, name="x", definition=OFFICE)
    with pytest.raises(ValidationFailed):
        service.create_schedule(
            session, sworld.owner.actor, name="x", definition={"timezone": "Mars/Base", "week": {}}
        )
    schedule = service.create_schedule(session, sworld.owner.actor, name="ok", definition=OFFICE)
    with pytest.raises(ValidationFailed) as info:
        service.create_rule(
            session,
            sworld.owner.actor,
            {"name": "r", "schedule_id": schedule.id, "minutes": 60, "company_ids": [999999]},
        )
    assert info.value.errors[0].field == "company_ids"
