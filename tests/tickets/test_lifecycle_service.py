"""The default lifecycle of spec/domain.md §5 driven through the ticket services, plus ``auto_after`` via
the background worker (retries, back-off, leases)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from builders import World, add_some_work, assign, fire, make_ticket, ticket_in_stage
from fixflow.core.db import Database, utcnow
from fixflow.core.errors import Forbidden, NotFound, RequirementNotMet, ValidationFailed, VersionConflict
from fixflow.jobs import worker
from fixflow.jobs.models import Job, OutboxEvent
from fixflow.jobs.outbox import schedule_job
from fixflow.jobs.registry import JOB_HANDLERS
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Ticket, TicketHistory
from fixflow.tickets.service import executor_ids_of, get_ticket_for_actor, update_ticket
from fixflow.tickets.transitions import (
    available_transitions_for,
    move_ticket_to_stage,
    transition_ticket,
)
from fixflow.workflow.models import Lifecycle, Stage, Status, Transition

EVERYONE = (
    "owner",
    "admin",
    "dispatcher",
    "executor",
    "executor2",
    "cadmin_a",
    "customer_a",
    "customer_a2",
    "customer_b",
    "cadmin_b",
)
BOSSES = frozenset({"owner", "admin", "dispatcher"})  # dispatchers (and above) fire any main transition
WHO = {
    "dispatcher": BOSSES,
    "executor": BOSSES | {"executor"},
    "customer": frozenset({"customer_a", "cadmin_a"}),  # the initiator and its company's customer admin
    "approver": frozenset({"customer_a2"}),  # tickets below await customer_a2's approval
}
THREE_DAYS = dt.timedelta(days=3)


@dataclass(frozen=True)
class Row:
    """One line of the table in spec/domain.md §5."""

    source: str
    target: str
    label: str
    branch: str
    roles: tuple[str, ...]
    who: str
    status: str | None
    comment: bool = False
    auto_after: dt.timedelta | None = None


SPEC_TABLE = [
    Row("Новая", "Назначена", "Назначить", "main", ("dispatcher",), "dispatcher", "В работе"),
    Row("Новая", "Отказ заказчика", "Отменить заявку", "customer", (), "customer", "Отказ заказчика"),
    Row("Назначена", "Отказ заказчика", "Отменить заявку", "customer", (), "customer", "Отказ заказчика"),
    Row("Назначена", "Принята", "Принять", "main", ("executor",), "executor", "В работе"),
    Row("Назначена", "Отказ исполнителя", "Отказаться", "main", ("executor",), "executor", None, True),
    Row("Принята", "Отказ исполнителя", "Отказаться", "main", ("executor",), "executor", None, True),
    Row("Отказ исполнителя", "Назначена", "Переназначить", "main", ("dispatcher",), "dispatcher", None),
    Row("Принята", "В работе", "Начать работу", "main", ("executor",), "executor", "В работе"),
    Row(
        "В работе",
        "Согласование",
        "На согласование",
        "main",
        ("dispatcher", "executor"),
        "executor",
        "Согласование",
    ),
    Row("Согласование", "В работе", "Согласовать", "approval", (), "approver", "В работе"),
    Row(
        "Согласование",
        "Не согласована",
        "Не согласовывать",
        "approval",
        (),
        "approver",
        "Не согласована",
        True,
    ),
    Row("Не согласована", "В работе", "Продолжить", "main", ("dispatcher",), "dispatcher", "В работе"),
    Row("Не согласована", "Закрыта", "Закрыть", "main", ("dispatcher",), "dispatcher", "Закрыта"),
    Row(
        "В работе",
        "Работы выполнены",
        "Завершить работы",
        "main",
        ("executor",),
        "executor",
        "Ожидает приёмки",
    ),
    Row("Работы выполнены", "Выполнена", "Принять работы", "customer", (), "customer", "Выполнена"),
    Row(
        "Работы выполнены",
        "В работе",
        "Не принимать работы",
        "customer",
        (),
        "customer",
        "На доработке",
        True,
    ),
    Row(
        "Выполнена", "Закрыта", "Закрыть", "main", ("dispatcher",), "dispatcher", "Закрыта", False, THREE_DAYS
    ),
]
ENTRY_ACTIONS = {
    "Отказ исполнителя": "unassign",
    "Выполнена": "complete",
    "Закрыта": "close",
    "Отказ заказчика": "close",
}
REQUIREMENTS = {
    "Назначена": ["executor_set"],
    "Согласование": ["approver_set"],
    "Работы выполнены": ["works_entered"],
}


# --- helpers ------------------------------------------------------------------------------------------


def stages_by_name(session: Session, world: World) -> dict[str, Stage]:
    return {s.name: s for s in session.scalars(select(Stage).where(Stage.tenant_id == world.tenant_id))}


def statuses_by_name(session: Session, world: World) -> dict[str, int]:
    return {s.name: s.id for s in session.scalars(select(Status).where(Status.tenant_id == world.tenant_id))}


def transition_id(session: Session, world: World, source: str, target: str) -> int:
    stages = stages_by_name(session, world)
    found = session.scalar(
        select(Transition.id).where(
            Transition.tenant_id == world.tenant_id,
            Transition.from_stage_id == stages[source].id,
            Transition.to_stage_id == stages[target].id,
        )
    )
    assert found is not None, (source, target)
    return found


def stage_name(session: Session, ticket: Ticket) -> str:
    stage = session.get(Stage, ticket.stage_id)
    assert stage is not None
    return stage.name


def status_name(session: Session, ticket: Ticket) -> str:
    status = session.get(Status, ticket.status_id)
    assert status is not None
    return status.name


def history(session: Session, ticket_id: int) -> list[TicketHistory]:
    return list(
        session.scalars(
            select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
        )
    )


def events(session: Session, ticket_id: int) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id).order_by(OutboxEvent.id)
        )
    )


def snapshot(session: Session, ticket: Ticket) -> tuple[Any, ...]:
    """Everything a refused transition must leave alone, in memory and in the database."""
    session.flush()
    jobs = session.scalar(select(func.count()).where(Job.dedupe_key.like(f"auto:{ticket.id}:%")))
    return (
        ticket.version,
        ticket.stage_id,
        ticket.status_id,
        ticket.stage_entered_at,
        ticket.completed_at,
        ticket.closed_at,
        frozenset(executor_ids_of(session, ticket.id)),
        len(history(session, ticket.id)),
        len(events(session, ticket.id)),
        jobs,
    )


def prepare(session: Session, world: World, ticket: Ticket, row: Row) -> None:
    """Meet the target stage's requirement, so only the actor decides."""
    if row.target == "Назначена":
        assign(session, world, ticket)
    elif row.target == "Согласование":
        update_ticket(
            session,
            world.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"approver_member_id": world.customer_a2.id},
        )
    elif row.target == "Работы выполнены":
        add_some_work(session, world, ticket)


@contextmanager
def tried(session: Session) -> Iterator[None]:
    """Run the block in a savepoint and undo it, so one ticket serves several attempts."""
    known = {state.key for state in session.identity_map.all_states()}
    savepoint = session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()
        # rows inserted in the savepoint would otherwise linger in the identity map (SQLite reuses ids)
        for state in list(session.identity_map.all_states()):
            if state.key not in known:
                session.expunge(state.obj())


def ticket_at(session: Session, world: World, stage: str) -> Ticket:
    return ticket_in_stage(session, world, stage, by="customer_a", approver="customer_a2")


# --- the seeded lifecycle is the spec's ---------------------------------------------------------------


def test_default_lifecycle_is_the_spec_table(session: Session, sworld: World) -> None:
    stages = {s.id: s for s in stages_by_name(session, sworld).values()}
    statuses = {v: k for k, v in statuses_by_name(session, sworld).items()}
    rows = session.scalars(select(Transition).where(Transition.tenant_id == sworld.tenant_id)).all()
    seeded = {
        (
            stages[t.from_stage_id].name,
            stages[t.to_stage_id].name,
            t.label,
            t.branch,
            tuple(sorted(t.roles)),
            statuses[t.set_status_id] if t.set_status_id else None,
            t.requires_comment,
            dt.timedelta(seconds=t.auto_after_seconds) if t.auto_after_seconds else None,
        )
        for t in rows
    }
    expected = {
        (r.source, r.target, r.label, r.branch, tuple(sorted(r.roles)), r.status, r.comment, r.auto_after)
        for r in SPEC_TABLE
    }
    assert seeded == expected
    assert len(rows) == len(SPEC_TABLE)
    by_name = stages_by_name(session, sworld)
    assert [s.name for s in by_name.values() if s.is_start] == ["Новая"]
    assert {n: s.entry_action for n, s in by_name.items() if s.entry_action} == ENTRY_ACTIONS
    assert {n: list(s.requirements) for n, s in by_name.items() if s.requirements} == REQUIREMENTS
    assert [n for n, s in by_name.items() if s.is_cancellation] == ["Отказ заказчика"]
    lifecycle = session.get(Lifecycle, by_name["Новая"].lifecycle_id)
    assert lifecycle is not None and statuses[lifecycle.start_status_id] == "Новая"


def test_new_ticket_starts_in_the_start_stage_and_status(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    assert (stage_name(session, ticket), status_name(session, ticket)) == ("Новая", "Новая")
    assert ticket.version == 1 and ticket.closed_at is None and ticket.completed_at is None


# --- every transition: who may, who may not, what it does ---------------------------------------------


def _attempt(
    session: Session, world: World, key: str, ticket: Ticket, tid: int, comment: str | None
) -> Ticket:
    """What the API does: find the ticket through the visibility predicate, then transition it."""
    actor = world.people[key].actor
    found = get_ticket_for_actor(session, actor, ticket.id)
    return transition_ticket(session, actor, found, transition_id=tid, version=found.version, comment=comment)


@pytest.mark.parametrize("row", SPEC_TABLE, ids=lambda r: f"{r.source}->{r.target}")
def test_transition_admits_exactly_the_spec_roles(session: Session, sworld: World, row: Row) -> None:
    ticket = ticket_at(session, sworld, row.source)
    prepare(session, sworld, ticket, row)
    tid = transition_id(session, sworld, row.source, row.target)
    allowed = WHO[row.who]
    comment = "причина" if row.comment else None
    for key in EVERYONE:
        actor = sworld.people[key].actor
        offered = {o.id: o for o in available_transitions_for(session, actor, ticket)}
        visible = _visible(session, sworld, key, ticket)
        if key in allowed:
            assert visible, f"{key} may fire {row.label} but cannot see the ticket"
            assert tid in offered, key
            assert offered[tid].label == row.label
            assert offered[tid].requires_comment is row.comment
            assert offered[tid].branch == row.branch
            continue
        before = snapshot(session, ticket)
        if visible:
            assert tid not in offered, key
            with pytest.raises(Forbidden):
                _attempt(session, sworld, key, ticket, tid, comment)
        else:
            with pytest.raises(NotFound):
                _attempt(session, sworld, key, ticket, tid, comment)
        # the engine refuses on its own too: an unassigned executor holds the role but is not the
        # ticket's executor, so even a tenant that widened executors' scopes keeps them out
        with pytest.raises(Forbidden):
            transition_ticket(
                session, actor, ticket, transition_id=tid, version=ticket.version, comment=comment
            )
        assert snapshot(session, ticket) == before, key


def _visible(session: Session, world: World, key: str, ticket: Ticket) -> bool:
    try:
        get_ticket_for_actor(session, world.people[key].actor, ticket.id)
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("row", SPEC_TABLE, ids=lambda r: f"{r.source}->{r.target}")
def test_transition_effects(session: Session, sworld: World, row: Row) -> None:
    ticket = ticket_at(session, sworld, row.source)
    prepare(session, sworld, ticket, row)
    tid = transition_id(session, sworld, row.source, row.target)
    stages = stages_by_name(session, sworld)
    statuses = statuses_by_name(session, sworld)
    comment = "причина" if row.comment else None
    for key in sorted(WHO[row.who]):
        actor = sworld.people[key].actor
        with tried(session):
            version, old_status = ticket.version, ticket.status_id
            executors_before = executor_ids_of(session, ticket.id)
            entered_before, completed_before = ticket.stage_entered_at, ticket.completed_at
            last_history = max((h.id for h in history(session, ticket.id)), default=0)
            last_event = max((e.id for e in events(session, ticket.id)), default=0)

            _attempt(session, sworld, key, ticket, tid, comment)

            assert stage_name(session, ticket) == row.target
            expected_status = statuses[row.status] if row.status else old_status
            assert ticket.status_id == expected_status
            assert ticket.version == version + 1
            assert ticket.stage_entered_at > entered_before
            new_history = [h for h in history(session, ticket.id) if h.id > last_history]
            moves = [h for h in new_history if h.kind == HistoryKind.STAGE_CHANGED]
            assert len(moves) == 1
            assert (moves[0].old, moves[0].new) == (stages[row.source].id, stages[row.target].id)
            assert moves[0].actor_id == actor.member_id
            assert moves[0].comment == comment
            status_rows = [h for h in new_history if h.kind == HistoryKind.STATUS_CHANGED]
            if expected_status != old_status:
                assert [(h.old, h.new) for h in status_rows] == [(old_status, expected_status)]
            else:
                assert status_rows == []
            new_events = [e for e in events(session, ticket.id) if e.id > last_event]
            moved = [e for e in new_events if e.kind == "ticket.stage_changed"]
            assert len(moved) == 1
            assert moved[0].actor_id == actor.member_id
            assert moved[0].tenant_id == sworld.tenant_id
            assert moved[0].payload["transition_id"] == tid
            assert moved[0].payload["from_stage_id"] == stages[row.source].id
            assert moved[0].payload["to_stage_id"] == stages[row.target].id
            kinds = {e.kind for e in new_events}
            assert ("ticket.approval_requested" in kinds) == (row.target == "Согласование")
            assert ("ticket.work_submitted" in kinds) == (row.target == "Работы выполнены")
            _check_entry_action(
                session, ticket, row.target, executors_before, completed_before, new_history, new_events
            )


def _check_entry_action(
    session: Session,
    ticket: Ticket,
    target: str,
    executors_before: set[int],
    completed_before: dt.datetime | None,
    new_history: list[TicketHistory],
    new_events: list[OutboxEvent],
) -> None:
    action = ENTRY_ACTIONS.get(target)
    executors = executor_ids_of(session, ticket.id)
    if action == "unassign":
        assert executors_before  # there was someone to unassign
        assert executors == set()
        removed = {h.old for h in new_history if h.kind == HistoryKind.EXECUTOR_REMOVED}
        assert removed == executors_before
        unassigned = {e.payload["member_id"] for e in new_events if e.kind == "ticket.executor_unassigned"}
        assert unassigned == executors_before
    else:
        assert executors == executors_before
    if action == "complete":
        assert ticket.completed_at is not None
        assert ticket.completed_at == ticket.stage_entered_at
    else:
        assert ticket.completed_at == completed_before
    if action == "close":
        assert ticket.closed_at is not None and ticket.closed_at == ticket.stage_entered_at
        assert ticket.is_closed
    else:
        assert ticket.closed_at is None


# --- requirements, comments, versions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "who", "requirement"),
    [
        ("Новая", "Назначена", "dispatcher", "executor_set"),
        ("Отказ исполнителя", "Назначена", "dispatcher", "executor_set"),
        ("В работе", "Согласование", "executor", "approver_set"),
        ("В работе", "Согласование", "dispatcher", "approver_set"),
        ("В работе", "Работы выполнены", "executor", "works_entered"),
    ],
)
def test_failing_requirement_refuses_and_changes_nothing(
    session: Session, sworld: World, source: str, target: str, who: str, requirement: str
) -> None:
    ticket = ticket_in_stage(session, sworld, source)
    tid = transition_id(session, sworld, source, target)
    before = snapshot(session, ticket)
    with pytest.raises(RequirementNotMet) as caught:
        transition_ticket(
            session, sworld.people[who].actor, ticket, transition_id=tid, version=ticket.version
        )
    assert caught.value.params["requirement"] == requirement
    assert caught.value.status == 422
    assert snapshot(session, ticket) == before
    assert stage_name(session, ticket) == source


def test_works_requirement_counts_only_this_tickets_works(session: Session, sworld: World) -> None:
    other = ticket_in_stage(session, sworld, "В работе")
    add_some_work(session, sworld, other)
    ticket = ticket_in_stage(session, sworld, "В работе")
    with pytest.raises(RequirementNotMet):
        fire(session, sworld, ticket, "executor", "Завершить работы")


@pytest.mark.parametrize("row", [r for r in SPEC_TABLE if r.comment], ids=lambda r: f"{r.source}->{r.target}")
def test_comment_required_transitions_refuse_without_a_reason(
    session: Session, sworld: World, row: Row
) -> None:
    ticket = ticket_at(session, sworld, row.source)
    tid = transition_id(session, sworld, row.source, row.target)
    actor = sworld.people[sorted(WHO[row.who] - BOSSES)[0]].actor
    before = snapshot(session, ticket)
    for comment in (None, "", "   \n"):
        with pytest.raises(ValidationFailed) as caught:
            transition_ticket(
                session, actor, ticket, transition_id=tid, version=ticket.version, comment=comment
            )
        assert not isinstance(caught.value, RequirementNotMet)
        assert [p.field for p in caught.value.errors] == ["comment"]
        assert snapshot(session, ticket) == before
    transition_ticket(session, actor, ticket, transition_id=tid, version=ticket.version, comment="причина")
    assert stage_name(session, ticket) == row.target


def test_comment_is_kept_in_history_and_event(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Работы выполнены")
    fire(session, sworld, ticket, "customer_a", "Не принимать работы", "  течёт снова  ")
    move = [h for h in history(session, ticket.id) if h.kind == HistoryKind.STAGE_CHANGED][-1]
    assert move.comment is not None and "течёт снова" in move.comment
    event = [e for e in events(session, ticket.id) if e.kind == "ticket.stage_changed"][-1]
    assert "течёт снова" in event.payload["comment"]


def test_stale_version_is_a_conflict_and_changes_nothing(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    assign(session, sworld, ticket)  # version 2 now
    tid = transition_id(session, sworld, "Новая", "Назначена")
    before = snapshot(session, ticket)
    for stale in (1, ticket.version + 1):
        with pytest.raises(VersionConflict) as caught:
            transition_ticket(session, sworld.dispatcher.actor, ticket, transition_id=tid, version=stale)
        assert caught.value.status == 409
        assert caught.value.params["current_version"] == ticket.version
    assert snapshot(session, ticket) == before


def test_two_people_pressing_at_once_one_wins(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Назначена")
    seen_version = ticket.version  # both loaded the same ticket
    accept = transition_id(session, sworld, "Назначена", "Принята")
    cancel = transition_id(session, sworld, "Назначена", "Отказ заказчика")
    transition_ticket(session, sworld.executor.actor, ticket, transition_id=accept, version=seen_version)
    before = snapshot(session, ticket)
    with pytest.raises(VersionConflict):
        transition_ticket(
            session, sworld.customer_a.actor, ticket, transition_id=cancel, version=seen_version
        )
    assert snapshot(session, ticket) == before
    assert stage_name(session, ticket) == "Принята"


def test_transition_must_leave_the_current_stage(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    assign(session, sworld, ticket)
    elsewhere = transition_id(session, sworld, "Выполнена", "Закрыта")
    before = snapshot(session, ticket)
    with pytest.raises(Forbidden):
        transition_ticket(
            session, sworld.owner.actor, ticket, transition_id=elsewhere, version=ticket.version
        )
    assert snapshot(session, ticket) == before


def test_a_transition_between_open_stages_updates_the_ticket_in_place(
    session: Session, sworld: World
) -> None:
    """No index holds what such a transition changes, and the tickets' pages keep room for the new row
    version: PostgreSQL updates it in place (HOT), writing no index entries (migration 0013)."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    ticket = ticket_at(session, sworld, "Назначена")
    session.flush()
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated('tickets'::regclass), "
        "pg_stat_get_xact_tuples_hot_updated('tickets'::regclass)"
    )
    updated_before, hot_before = session.execute(counts).one()

    accept = transition_id(session, sworld, "Назначена", "Принята")
    _attempt(session, sworld, "dispatcher", ticket, accept, None)
    session.flush()

    updated, hot = session.execute(counts).one()
    assert stage_name(session, ticket) == "Принята"
    assert updated - updated_before >= 1
    assert hot - hot_before == updated - updated_before


def test_deleted_ticket_offers_no_transitions(session: Session, sworld: World) -> None:
    from fixflow.tickets.service import delete_ticket

    ticket = make_ticket(session, sworld)
    delete_ticket(session, sworld.owner.actor, ticket)
    assert available_transitions_for(session, sworld.owner.actor, ticket) == []


def test_customer_sees_status_never_stage(session: Session, sworld: World) -> None:
    from fixflow.tickets.detail import ticket_detail
    from fixflow.tickets.listing import TicketFilters, list_tickets
    from fixflow.tickets.queries import TicketView

    ticket = ticket_in_stage(session, sworld, "Принята")
    customer = ticket_detail(session, sworld.customer_a.actor, ticket)
    staff = ticket_detail(session, sworld.dispatcher.actor, ticket)
    assert customer.stage is None and customer.status.name == "В работе"
    assert staff.stage is not None and staff.stage.name == "Принята"
    card = list_tickets(session, sworld.customer_a.actor, TicketView.ALL, TicketFilters()).items[0]
    assert card.stage is None and card.status.name == "В работе"


# --- the owner's override -----------------------------------------------------------------------------


def test_owner_moves_to_any_stage(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "В работе")
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"approver_member_id": sworld.customer_a2.id},
    )
    add_some_work(session, sworld, ticket)
    statuses = statuses_by_name(session, sworld)
    for name, stage in stages_by_name(session, sworld).items():
        if name == "В работе":
            continue
        with tried(session):
            version, events_before = ticket.version, len(events(session, ticket.id))
            move_ticket_to_stage(
                session, sworld.owner.actor, ticket, stage_id=stage.id, version=version, comment="fix"
            )
            assert ticket.stage_id == stage.id
            assert ticket.version == version + 1
            assert (ticket.closed_at is not None) == (ENTRY_ACTIONS.get(name) == "close"), name
            assert (ticket.completed_at is not None) == (ENTRY_ACTIONS.get(name) == "complete"), name
            if name == "Отказ исполнителя":
                assert executor_ids_of(session, ticket.id) == set()
            incoming = {r.status for r in SPEC_TABLE if r.target == name and r.status}
            if incoming:
                assert status_name(session, ticket) in incoming, name
            else:
                assert ticket.status_id == statuses["В работе"], name
            move = [h for h in history(session, ticket.id) if h.kind == HistoryKind.STAGE_CHANGED][-1]
            assert (move.actor_id, move.new, move.comment) == (sworld.owner.id, stage.id, "fix")
            new_events = events(session, ticket.id)[events_before:]
            moved = [e for e in new_events if e.kind == "ticket.stage_changed"]
            assert [e.payload["transition_id"] for e in moved] == [None]


def test_only_the_owner_moves_anywhere(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Назначена")
    closed = stages_by_name(session, sworld)["Закрыта"]
    before = snapshot(session, ticket)
    for who in ("admin", "dispatcher", "executor", "customer_a", "cadmin_a"):
        with pytest.raises(Forbidden):
            move_ticket_to_stage(
                session, sworld.people[who].actor, ticket, stage_id=closed.id, version=ticket.version
            )
        assert snapshot(session, ticket) == before, who


def test_owner_move_respects_requirements_and_stale_versions(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    stages = stages_by_name(session, sworld)
    before = snapshot(session, ticket)
    with pytest.raises(RequirementNotMet):
        move_ticket_to_stage(
            session, sworld.owner.actor, ticket, stage_id=stages["Назначена"].id, version=ticket.version
        )
    with pytest.raises(VersionConflict):
        move_ticket_to_stage(session, sworld.owner.actor, ticket, stage_id=stages["Закрыта"].id, version=0)
    assert snapshot(session, ticket) == before


def test_owner_cannot_move_into_another_lifecycle(session: Session, sworld: World) -> None:
    from builders import make_world

    other = make_world(session)
    foreign = stages_by_name(session, other)["Закрыта"]
    ticket = make_ticket(session, sworld)
    with pytest.raises(Forbidden):
        move_ticket_to_stage(session, sworld.owner.actor, ticket, stage_id=foreign.id, version=ticket.version)


def test_owner_reopens_a_closed_ticket(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Закрыта")
    assert ticket.closed_at is not None
    stages = stages_by_name(session, sworld)
    move_ticket_to_stage(
        session, sworld.owner.actor, ticket, stage_id=stages["В работе"].id, version=ticket.version
    )
    assert ticket.closed_at is None
    assert status_name(session, ticket) == "В работе"


# --- one transaction ----------------------------------------------------------------------------------


def _counts(database: Database, ticket_id: int) -> tuple[int, int, int, int]:
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.stage_id, ticket.version, len(history(s, ticket_id)), len(events(s, ticket_id))


def test_change_history_and_events_commit_or_roll_back_together(database: Database, world: World) -> None:
    with database.session(write=True) as s:
        ticket_id = make_ticket(s, world).id
    before = _counts(database, ticket_id)
    with pytest.raises(RuntimeError), database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        fire(s, world, ticket, "customer_a", "Отменить заявку")
        raise RuntimeError("the request failed after the service returned")
    assert _counts(database, ticket_id) == before
    with database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        fire(s, world, ticket, "customer_a", "Отменить заявку")
    stage, version, n_history, n_events = _counts(database, ticket_id)
    assert stage != before[0]
    assert version == before[1] + 1
    assert n_history == before[2] + 2  # stage and status
    assert n_events > before[3]


# --- auto_after via the worker ------------------------------------------------------------------------


def work(database: Database, worker_id: str = "test-worker") -> list[int]:
    """One worker pass over due jobs (outbox delivery and periodic tasks left out)."""
    claimed = worker.claim_due_jobs(database, worker_id)
    for job_id in claimed:
        worker.run_job(database, job_id)
    return claimed


def _auto_jobs(s: Session, ticket_id: int) -> list[Job]:
    return list(s.scalars(select(Job).where(Job.dedupe_key.like(f"auto:{ticket_id}:%")).order_by(Job.id)))


def _make_due(database: Database, job_id: int) -> None:
    with database.session(write=True) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.run_at = utcnow() - dt.timedelta(seconds=1)


def _reached_done(database: Database, world: World) -> tuple[int, int]:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
        jobs = _auto_jobs(s, ticket.id)
        assert len(jobs) == 1
        assert jobs[0].kind == "auto_transition"
        assert jobs[0].status == "pending"
        assert jobs[0].run_at == ticket.stage_entered_at + THREE_DAYS
        return ticket.id, jobs[0].id


def test_auto_close_fires_after_three_days(database: Database, world: World) -> None:
    ticket_id, job_id = _reached_done(database, world)
    assert job_id not in work(database)  # not due yet
    _make_due(database, job_id)
    assert job_id in work(database)
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        job = s.get(Job, job_id)
        assert ticket is not None and job is not None
        assert job.status == "done"
        assert stage_name(s, ticket) == "Закрыта"
        assert status_name(s, ticket) == "Закрыта"
        assert ticket.closed_at is not None and ticket.completed_at is not None
        move = [h for h in history(s, ticket_id) if h.kind == HistoryKind.STAGE_CHANGED][-1]
        assert move.actor_id is None  # the system did it
        closing = [e for e in events(s, ticket_id) if e.kind == "ticket.stage_changed"][-1]
        assert closing.actor_id is None
        assert closing.payload["transition_id"] == transition_id(s, world, "Выполнена", "Закрыта")


def test_auto_close_does_not_fire_if_the_ticket_left_the_stage(database: Database, world: World) -> None:
    ticket_id, job_id = _reached_done(database, world)
    with database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        stages = stages_by_name(s, world)
        move_ticket_to_stage(
            s, world.owner.actor, ticket, stage_id=stages["В работе"].id, version=ticket.version
        )
    before = _counts(database, ticket_id)
    _make_due(database, job_id)
    assert job_id in work(database)
    assert _counts(database, ticket_id) == before
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        job = s.get(Job, job_id)
        assert ticket is not None and job is not None
        assert stage_name(s, ticket) == "В работе" and ticket.closed_at is None
        assert job.status == "done"  # a no-op, not a failure to retry


def test_auto_close_does_not_fire_early_after_the_ticket_re_entered_the_stage(
    database: Database, world: World
) -> None:
    ticket_id, old_job = _reached_done(database, world)
    with database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        stages = stages_by_name(s, world)
        move_ticket_to_stage(
            s, world.owner.actor, ticket, stage_id=stages["В работе"].id, version=ticket.version
        )
        move_ticket_to_stage(
            s, world.owner.actor, ticket, stage_id=stages["Выполнена"].id, version=ticket.version
        )
        jobs = _auto_jobs(s, ticket_id)
        assert [j.id for j in jobs][:1] == [old_job] and len(jobs) == 2
        new_job = jobs[1].id
        assert jobs[1].run_at == ticket.stage_entered_at + THREE_DAYS
    _make_due(database, old_job)
    work(database)
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and stage_name(s, ticket) == "Выполнена"
    _make_due(database, new_job)
    work(database)
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and stage_name(s, ticket) == "Закрыта"


def test_auto_close_skips_deleted_tickets(database: Database, world: World) -> None:
    from fixflow.tickets.service import delete_ticket

    ticket_id, job_id = _reached_done(database, world)
    with database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        delete_ticket(s, world.owner.actor, ticket)
    _make_due(database, job_id)
    work(database)
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and stage_name(s, ticket) == "Выполнена"


def test_failing_job_is_retried_with_back_off_and_then_marked_failed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def boom(session: Session, payload: dict[str, Any]) -> None:
        calls.append(payload)
        raise RuntimeError("smtp down")

    monkeypatch.setitem(JOB_HANDLERS, "test.always_fails", boom)
    with database.session(write=True) as s:
        job = schedule_job(s, kind="test.always_fails", payload={"n": 1}, max_attempts=3)
        assert job is not None
        s.flush()
        job_id = job.id
    for attempt in (1, 2, 3):
        started = utcnow()
        assert job_id in work(database)
        finished = utcnow()
        with database.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            assert job.attempts == attempt
            assert job.last_error == "RuntimeError: smtp down"
            assert job.locked_until is None
            if attempt < 3:
                assert job.status == "pending"
                backoff = worker.backoff(attempt)
                assert started + backoff <= job.run_at <= finished + backoff
            else:
                assert job.status == "failed"
                assert job.finished_at is not None
        if attempt < 3:
            assert job_id not in work(database)  # backing off: not due yet
            _make_due(database, job_id)
    _make_due(database, job_id)
    assert job_id not in work(database)  # failed for good
    assert len(calls) == 3


def test_backoff_grows_and_is_capped() -> None:
    delays = [worker.backoff(n) for n in range(1, 30)]
    assert delays == sorted(delays)
    assert delays[0] < delays[3]
    assert max(delays) == dt.timedelta(hours=1)


def test_job_of_a_killed_worker_is_reclaimed_after_its_lease(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(JOB_HANDLERS, "test.record", lambda session, payload: calls.append(payload))
    with database.session(write=True) as s:
        job = schedule_job(s, kind="test.record", payload={"n": 2})
        assert job is not None
        s.flush()
        job_id = job.id
    claimed = worker.claim_due_jobs(database, "doomed-worker")
    assert job_id in claimed
    for other in set(claimed) - {job_id}:  # someone else's due jobs: run them like a live worker would
        worker.run_job(database, other)
    # the worker dies here without running the job; the lease keeps others away meanwhile
    assert job_id not in work(database, "survivor")
    with database.session(write=True) as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.locked_by == "doomed-worker" and job.status == "pending"
        assert job.locked_until is not None and job.locked_until > utcnow() + dt.timedelta(minutes=4)
        job.locked_until = utcnow() - dt.timedelta(seconds=1)  # the lease ran out
    assert job_id in work(database, "survivor")
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "done" and job.attempts == 2 and job.locked_by == "survivor"
    assert calls == [{"n": 2}]


def test_every_requirement_has_a_clear_message() -> None:
    from fixflow.tickets.transitions import REQUIREMENT_MESSAGES
    from fixflow.workflow.engine import Requirement

    assert set(REQUIREMENT_MESSAGES) == set(Requirement)
    assert all(message.strip() for message in REQUIREMENT_MESSAGES.values())
