"""Ticket writes (spec/domain.md §4 numbering, §6 tickets): creation rules, executors, works, history,
favourites, soft deletion, address and deadline."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from builders import World, add_some_work, assign, fire, make_ticket, make_world, member, ticket_in_stage
from fixflow.accounts.actor import Actor
from fixflow.accounts.service import add_member, create_account
from fixflow.catalogs.models import TicketType, WorkType
from fixflow.core.db import utcnow
from fixflow.core.errors import Forbidden, NotFound, ValidationFailed, VersionConflict
from fixflow.jobs.models import OutboxEvent
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.objects.service import create_object
from fixflow.tickets.detail import load_ticket_profile
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Favorite, Ticket, TicketHistory, TicketWork
from fixflow.tickets.service import (
    TicketDraft,
    add_favorite,
    create_ticket,
    delete_ticket,
    executor_ids_of,
    get_ticket_for_actor,
    remove_favorite,
    update_ticket,
)
from fixflow.tickets.works import WorkDraft, add_work


def object_types(session: Session, world: World) -> dict[str, int]:
    rows = session.scalars(select(ObjectType).where(ObjectType.tenant_id == world.tenant_id))
    return {t.name: t.id for t in rows}


def work_types(session: Session, world: World) -> dict[str, WorkType]:
    return {w.name: w for w in session.scalars(select(WorkType).where(WorkType.tenant_id == world.tenant_id))}


def new_type(session: Session, world: World, **values: Any) -> TicketType:
    base = session.get(TicketType, world.type_id)
    assert base is not None
    values.setdefault("name", "Другой тип")
    ticket_type = TicketType(tenant_id=world.tenant_id, lifecycle_id=base.lifecycle_id, **values)
    session.add(ticket_type)
    session.flush()
    return ticket_type


def problems(error: ValidationFailed) -> set[str]:
    return {p.field for p in error.errors}


def history(session: Session, ticket: Ticket) -> list[TicketHistory]:
    stmt = select(TicketHistory).where(TicketHistory.ticket_id == ticket.id).order_by(TicketHistory.id)
    return list(session.scalars(stmt))


def events(session: Session, ticket: Ticket) -> list[str]:
    stmt = select(OutboxEvent.kind).where(OutboxEvent.ticket_id == ticket.id).order_by(OutboxEvent.id)
    return list(session.scalars(stmt))


# --- numbering ----------------------------------------------------------------------------------------


def test_number_follows_the_mask_and_the_counter(session: Session, sworld: World) -> None:
    first = make_ticket(session, sworld)
    second = make_ticket(session, sworld)
    now = utcnow()
    prefix = f"{now.year % 100:02d}{now.month:02d}"
    assert re.fullmatch(r"\d{4}-\d{4}", first.number)
    assert first.number.split("-")[0] == prefix
    assert first.number == f"{prefix}-0001"
    assert second.number == f"{prefix}-0002"


def test_counter_is_per_ticket_type(session: Session, sworld: World) -> None:
    other = new_type(session, sworld, number_mask="W{YYYY}/{###}")
    repair = [make_ticket(session, sworld).number for _ in range(2)]
    warranty = [make_ticket(session, sworld, type_id=other.id).number for _ in range(2)]
    year = utcnow().year
    assert warranty == [f"W{year}/001", f"W{year}/002"]
    assert [n[-4:] for n in repair] == ["0001", "0002"]


def test_company_code_in_the_mask(session: Session, sworld: World) -> None:
    coded = new_type(session, sworld, number_mask="{CODE}-{###}")
    a = make_ticket(session, sworld, type_id=coded.id, object_id=sworld.objects_a[0])
    b = make_ticket(session, sworld, by="customer_b", type_id=coded.id)
    assert (a.number, b.number) == ("AL-001", "BE-002")


def test_numbers_are_unique_per_tenant_and_counted_per_tenant(session: Session, sworld: World) -> None:
    other = make_world(session)
    ours = [make_ticket(session, sworld).number for _ in range(3)]
    theirs = [make_ticket(session, other).number for _ in range(2)]
    assert len(set(ours)) == 3
    assert theirs == ours[:2]  # each tenant counts on its own
    for world in (sworld, other):
        rows = session.execute(
            select(Ticket.number, func.count())
            .where(Ticket.tenant_id == world.tenant_id)
            .group_by(Ticket.number)
        ).all()
        assert all(count == 1 for _, count in rows)


# --- what a new ticket may refer to -------------------------------------------------------------------


def test_work_type_must_be_allowed_by_the_type_and_by_the_object(session: Session, sworld: World) -> None:
    wt = work_types(session, sworld)
    diag, repair, service = wt["Диагностика"].id, wt["Ремонт"].id, wt["Техническое обслуживание"].id
    narrow = new_type(session, sworld, allowed_work_type_ids=[diag, repair])
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    obj.allowed_work_type_ids = [repair, service]
    session.flush()
    ok = make_ticket(session, sworld, type_id=narrow.id, work_type_id=repair)
    assert ok.work_type_id == repair
    for refused in (diag, service):  # diag: not for the object; service: not for the type
        with pytest.raises(ValidationFailed) as caught:
            make_ticket(session, sworld, type_id=narrow.id, work_type_id=refused)
        assert problems(caught.value) == {"work_type_id"}
    # the default type allows every work type, the object still narrows
    with pytest.raises(ValidationFailed):
        make_ticket(session, sworld, work_type_id=diag)


def test_work_type_change_is_checked_the_same_way(session: Session, sworld: World) -> None:
    wt = work_types(session, sworld)
    ticket = make_ticket(session, sworld)
    obj = session.get(ServiceObject, ticket.object_id)
    assert obj is not None
    obj.allowed_work_type_ids = [wt["Ремонт"].id]
    session.flush()
    with pytest.raises(ValidationFailed):
        update_ticket(
            session,
            sworld.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"work_type_id": wt["Диагностика"].id},
        )
    assert ticket.work_type_id is None
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"work_type_id": wt["Ремонт"].id},
    )
    assert ticket.work_type_id == wt["Ремонт"].id


def test_unpublished_work_type_and_foreign_work_type_are_refused(session: Session, sworld: World) -> None:
    wt = work_types(session, sworld)["Ремонт"]
    wt.published = False
    session.flush()
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, work_type_id=wt.id)
    assert problems(caught.value) == {"work_type_id"}
    other = make_world(session)
    with pytest.raises(ValidationFailed):
        make_ticket(session, sworld, work_type_id=other.work_type_id)


def test_unpublished_or_deleted_object_cannot_be_used(session: Session, sworld: World) -> None:
    unpublished = session.get(ServiceObject, sworld.objects_a[1])
    deleted = session.get(ServiceObject, sworld.objects_a[0])
    assert unpublished is not None and deleted is not None
    unpublished.published = False
    deleted.deleted_at = utcnow()
    session.flush()
    for who in ("customer_a", "dispatcher", "owner"):
        for obj in (unpublished, deleted):
            with pytest.raises(ValidationFailed) as caught:
                make_ticket(session, sworld, by=who, object_id=obj.id)
            assert problems(caught.value) == {"object_id"}


def test_customer_files_only_for_objects_of_their_companies(session: Session, sworld: World) -> None:
    for obj in sworld.objects_b:
        with pytest.raises(ValidationFailed) as caught:
            make_ticket(session, sworld, by="customer_a", object_id=obj)
        assert problems(caught.value) == {"object_id"}
    assert (
        make_ticket(session, sworld, by="customer_a", object_id=sworld.objects_a[0]).company_id
        == sworld.company_a
    )
    other = make_world(session)
    with pytest.raises(ValidationFailed):
        make_ticket(session, sworld, by="dispatcher", object_id=other.objects_a[0])  # staff: own tenant only


def test_ticket_company_is_the_object_owner(session: Session, sworld: World) -> None:
    assert (
        make_ticket(session, sworld, by="dispatcher", object_id=sworld.site_b).company_id == sworld.company_b
    )


def test_only_staff_file_on_behalf_of_someone(session: Session, sworld: World) -> None:
    with pytest.raises(Forbidden):
        make_ticket(session, sworld, by="cadmin_a", initiator_id=sworld.customer_a.id)
    ticket = make_ticket(session, sworld, by="dispatcher", initiator_id=sworld.customer_a.id)
    assert ticket.initiator_id == sworld.customer_a.id
    assert ticket.created_by_id == sworld.dispatcher.id
    other = make_world(session)
    with pytest.raises(ValidationFailed):
        make_ticket(session, sworld, by="dispatcher", initiator_id=other.customer_a.id)


def test_description_type_and_source_are_validated(session: Session, sworld: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, description="   ", source="fax")
    assert problems(caught.value) == {"description", "source"}
    hidden = new_type(session, sworld, published=False)
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, type_id=hidden.id)
    assert problems(caught.value) == {"type_id"}
    other = make_world(session)
    with pytest.raises(ValidationFailed):
        make_ticket(session, sworld, type_id=other.type_id)


def test_ticket_creation_needs_the_permission(session: Session, sworld: World) -> None:
    from fixflow.accounts.models import Role

    role = session.scalar(select(Role).where(Role.tenant_id == sworld.tenant_id, Role.code == "customer"))
    assert role is not None
    role.permissions = [p for p in role.permissions if p != "ticket.create"]
    session.flush()
    from fixflow.accounts.actor import load_actor

    actor = load_actor(session, member(session, sworld.customer_a))
    with pytest.raises(Forbidden):
        create_ticket(
            session,
            actor,
            TicketDraft(type_id=sworld.type_id, object_id=sworld.objects_a[1], description="x"),
        )


# --- address and deadline -----------------------------------------------------------------------------


def test_address_is_copied_from_the_effective_address(session: Session, sworld: World) -> None:
    types = object_types(session, sworld)
    building = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="Корпус 2",
        type_id=types["Оборудование"],
        company_id=sworld.company_a,
        parent_id=sworld.site_a,
        address="Addr A, корпус 2",
    )
    boiler = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="Котёл",
        type_id=types["Оборудование"],
        company_id=sworld.company_a,
        parent_id=building.id,
    )
    assert make_ticket(session, sworld, object_id=sworld.site_a).address == "Addr A"  # own address
    assert make_ticket(session, sworld, object_id=sworld.objects_a[1]).address == "Addr A"  # parent's
    assert make_ticket(session, sworld, object_id=boiler.id).address == "Addr A, корпус 2"  # nearest ancestor
    ticket = make_ticket(session, sworld, object_id=boiler.id)
    update_ticket(
        session, sworld.dispatcher.actor, ticket, version=ticket.version, changes={"address": "Вход со двора"}
    )
    assert ticket.address == "Вход со двора"  # a copy: editable on the ticket
    assert boiler.address == ""


def test_deadline_is_created_plus_the_shorter_closing_time(session: Session, sworld: World) -> None:
    wt = work_types(session, sworld)
    ticket_type = session.get(TicketType, sworld.type_id)
    assert ticket_type is not None and ticket_type.closing_minutes == 3 * 24 * 60
    cases = {
        None: dt.timedelta(days=3),  # the type's closing time
        "Диагностика": dt.timedelta(days=1),  # 1 day < 3 days
        "Ремонт": dt.timedelta(days=3),
        "Техническое обслуживание": dt.timedelta(days=3),  # 5 days > 3 days: the type's wins
    }
    for name, expected in cases.items():
        ticket = make_ticket(
            session, sworld, object_id=sworld.site_a, work_type_id=wt[name].id if name else None
        )
        assert ticket.deadline is not None
        assert ticket.deadline - ticket.created_at == expected, name


# --- executors ----------------------------------------------------------------------------------------


def test_executors_must_be_mobile_staff_of_the_tenant(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    other = make_world(session)
    for wrong in ("dispatcher", "customer_a", "owner"):  # not mobile
        with pytest.raises(ValidationFailed):
            assign(session, sworld, ticket, wrong)
    with pytest.raises(ValidationFailed):
        update_ticket(
            session,
            sworld.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"executor_ids": [other.executor.id]},
        )
    assert executor_ids_of(session, ticket.id) == set()
    assign(session, sworld, ticket, "executor", "executor2")
    assert executor_ids_of(session, ticket.id) == {sworld.executor.id, sworld.executor2.id}


def test_a_mobile_customer_is_still_not_an_executor(session: Session, sworld: World) -> None:
    customer = member(session, sworld.customer_a2)
    customer.is_mobile = True  # a mis-set flag must not turn a customer into a field employee
    session.flush()
    ticket = make_ticket(session, sworld)
    with pytest.raises(ValidationFailed):
        assign(session, sworld, ticket, "customer_a2")


def test_deleted_staff_are_not_assignable(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    gone = member(session, sworld.executor2)
    gone.deleted_at = utcnow()
    session.flush()
    with pytest.raises(ValidationFailed):
        assign(session, sworld, ticket, "executor2")


def test_assigning_needs_the_permission_and_is_logged(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    for who in ("executor", "customer_a", "cadmin_a"):
        with pytest.raises(Forbidden):
            update_ticket(
                session,
                sworld.people[who].actor,
                ticket,
                version=ticket.version,
                changes={"executor_ids": [sworld.executor.id]},
            )
    version = ticket.version
    assign(session, sworld, ticket, "executor")
    assign(session, sworld, ticket, "executor2")
    assert ticket.version == version + 2
    changes = [(h.kind, h.old, h.new) for h in history(session, ticket) if h.field == "executor"]
    assert changes == [
        (HistoryKind.EXECUTOR_ADDED, None, sworld.executor.id),
        (HistoryKind.EXECUTOR_ADDED, None, sworld.executor2.id),
        (HistoryKind.EXECUTOR_REMOVED, sworld.executor.id, None),
    ]
    kinds = events(session, ticket)
    assert kinds.count("ticket.executor_assigned") == 2
    assert kinds.count("ticket.executor_unassigned") == 1


def test_update_checks_version_and_closed_state(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    with pytest.raises(VersionConflict):
        update_ticket(
            session, sworld.dispatcher.actor, ticket, version=ticket.version - 1, changes={"description": "x"}
        )
    closed = ticket_in_stage(session, sworld, "Закрыта")
    with pytest.raises(ValidationFailed):
        update_ticket(
            session, sworld.dispatcher.actor, closed, version=closed.version, changes={"description": "x"}
        )
    with pytest.raises(Forbidden):
        update_ticket(
            session, sworld.customer_a.actor, ticket, version=ticket.version, changes={"description": "x"}
        )


# --- completed works ----------------------------------------------------------------------------------


def test_only_executors_of_the_ticket_enter_works(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "В работе")
    draft = WorkDraft(work_type_id=sworld.work_type_id, duration_minutes=30)
    for who in ("executor2", "dispatcher", "owner", "customer_a"):
        with pytest.raises(Forbidden):
            add_work(session, sworld.people[who].actor, ticket, draft)
    assert session.scalar(select(func.count()).where(TicketWork.ticket_id == ticket.id)) == 0
    with pytest.raises(ValidationFailed) as caught:  # "who did it" must be an executor too
        add_work(
            session,
            sworld.executor.actor,
            ticket,
            WorkDraft(work_type_id=sworld.work_type_id, member_id=sworld.executor2.id),
        )
    assert problems(caught.value) == {"member_id"}
    version = ticket.version
    work = add_work(session, sworld.executor.actor, ticket, draft)
    assert work.member_id == sworld.executor.id
    assert work.price == work_types(session, sworld)["Диагностика"].price  # the catalogue price by default
    assert ticket.version == version + 1
    assert history(session, ticket)[-1].kind == HistoryKind.WORK_ADDED
    assert events(session, ticket)[-1] == "ticket.work_added"


def test_work_values_are_validated(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "В работе")
    bad = WorkDraft(
        work_type_id=sworld.work_type_id, duration_minutes=-1, quantity=Decimal("0"), price=Decimal("-1")
    )
    with pytest.raises(ValidationFailed) as caught:
        add_work(session, sworld.executor.actor, ticket, bad)
    assert problems(caught.value) == {"duration_minutes", "quantity", "price"}


def test_no_works_on_a_closed_ticket(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Закрыта")
    with pytest.raises(ValidationFailed):
        add_some_work(session, sworld, ticket)


# --- history ------------------------------------------------------------------------------------------


@contextmanager
def history_writes(session: Session) -> Iterator[list[str]]:
    """Every UPDATE or DELETE statement that touches ticket_history while the block runs."""
    touched: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = " ".join(statement.split()).lower()
        if text.startswith(("update ticket_history", "delete from ticket_history")):
            touched.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield touched
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def test_history_is_append_only(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    created = [(h.id, h.kind, h.new) for h in history(session, ticket)]
    assert [k for _, k, _ in created] == [HistoryKind.CREATED]
    with history_writes(session) as touched:
        update_ticket(
            session,
            sworld.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"description": "Течёт сильнее", "approver_member_id": sworld.customer_a2.id},
        )
        assign(session, sworld, ticket)
        fire(session, sworld, ticket, "dispatcher", "Назначить")
        fire(session, sworld, ticket, "executor", "Принять")
        fire(session, sworld, ticket, "executor", "Начать работу")
        add_some_work(session, sworld, ticket)
        fire(session, sworld, ticket, "executor", "Завершить работы")
        fire(session, sworld, ticket, "customer_a", "Принять работы")
        delete_ticket(session, sworld.owner.actor, ticket)
        session.flush()
    assert touched == []
    rows = history(session, ticket)
    assert [(h.id, h.kind, h.new) for h in rows[: len(created)]] == created  # earlier rows untouched
    assert [h.id for h in rows] == sorted(h.id for h in rows)
    kinds = [h.kind for h in rows]
    for kind in (
        HistoryKind.FIELD_CHANGED,
        HistoryKind.EXECUTOR_ADDED,
        HistoryKind.STAGE_CHANGED,
        HistoryKind.STATUS_CHANGED,
        HistoryKind.WORK_ADDED,
        HistoryKind.DELETED,
    ):
        assert kind in kinds
    described = next(h for h in rows if h.field == "description")
    assert (described.old, described.new, described.actor_id) == (
        "Broken pump",
        "Течёт сильнее",
        sworld.dispatcher.id,
    )


def test_unchanged_field_is_not_logged(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    before = len(history(session, ticket))
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"description": "Broken pump"},
    )
    assert len(history(session, ticket)) == before


def test_creation_writes_history_and_an_event(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    rows = history(session, ticket)
    assert [(h.kind, h.actor_id) for h in rows] == [(HistoryKind.CREATED, sworld.customer_a.id)]
    assert events(session, ticket) == ["ticket.created"]


# --- favourites ---------------------------------------------------------------------------------------


def is_favorite(session: Session, actor: Actor, ticket_id: int) -> bool:
    return load_ticket_profile(session, actor, ticket_id).is_favorite


def test_favorites_are_idempotent_and_per_member(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    a, cadmin = sworld.customer_a.actor, sworld.cadmin_a.actor
    add_favorite(session, a, ticket)
    add_favorite(session, a, ticket)
    rows = session.scalar(select(func.count()).where(Favorite.ticket_id == ticket.id))
    assert rows == 1
    assert is_favorite(session, a, ticket.id)
    assert not is_favorite(session, cadmin, ticket.id)
    add_favorite(session, cadmin, ticket)
    remove_favorite(session, a, ticket)
    remove_favorite(session, a, ticket)  # removing twice is fine too
    assert not is_favorite(session, a, ticket.id)
    assert is_favorite(session, cadmin, ticket.id)


def test_favorites_work_on_closed_tickets(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    fire(session, sworld, ticket, "customer_a", "Отменить заявку")
    assert ticket.closed_at is not None
    add_favorite(session, sworld.customer_a.actor, ticket)
    assert is_favorite(session, sworld.customer_a.actor, ticket.id)


# --- soft deletion ------------------------------------------------------------------------------------


def test_soft_delete_needs_the_permission(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    for who in ("dispatcher", "executor", "customer_a", "cadmin_a"):
        with pytest.raises(Forbidden):
            delete_ticket(session, sworld.people[who].actor, ticket)
    assert ticket.deleted_at is None
    delete_ticket(session, sworld.admin.actor, ticket)
    assert ticket.deleted_at is not None
    assert session.get(Ticket, ticket.id) is not None  # soft: the row stays
    assert history(session, ticket)[-1].kind == HistoryKind.DELETED
    assert events(session, ticket)[-1] == "ticket.deleted"


def test_soft_deleted_ticket_hidden_from_all_but_the_owner(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    delete_ticket(session, sworld.owner.actor, ticket)
    version = ticket.version
    delete_ticket(session, sworld.owner.actor, ticket)  # deleting twice changes nothing
    assert ticket.version == version
    assert get_ticket_for_actor(session, sworld.owner.actor, ticket.id).id == ticket.id
    for who in ("admin", "dispatcher", "customer_a", "cadmin_a"):
        with pytest.raises(NotFound):
            get_ticket_for_actor(session, sworld.people[who].actor, ticket.id)


def test_new_account_member_is_not_an_executor_until_mobile(session: Session, sworld: World) -> None:
    account = create_account(session, email=f"late-{sworld.slug}@example.test", password="correct horse")
    newcomer = add_member(session, tenant_id=sworld.tenant_id, account=account, role_codes=["executor"])
    ticket = make_ticket(session, sworld)
    with pytest.raises(ValidationFailed):
        update_ticket(
            session,
            sworld.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"executor_ids": [newcomer.id]},
        )
    newcomer.is_mobile = True
    session.flush()
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"executor_ids": [newcomer.id]},
    )
    assert executor_ids_of(session, ticket.id) == {newcomer.id}


# --- other field rules --------------------------------------------------------------------------------


def test_ticket_type_never_changes(session: Session, sworld: World) -> None:
    other = new_type(session, sworld)
    ticket = make_ticket(session, sworld)
    # refusing is fine too; silently changing it is not
    with contextlib.suppress(ValidationFailed):
        update_ticket(
            session, sworld.owner.actor, ticket, version=ticket.version, changes={"type_id": other.id}
        )
    session.flush()
    session.expire(ticket)
    assert ticket.type_id == sworld.type_id


def test_approver_must_be_a_live_member_or_role_of_the_tenant(session: Session, sworld: World) -> None:
    other = make_world(session)
    ticket = make_ticket(session, sworld)
    for changes in (
        {"approver_member_id": other.customer_a.id},
        {"approver_member_id": 987654321},
        {"approver_role_id": 987654321},
    ):
        with pytest.raises(ValidationFailed):
            update_ticket(session, sworld.dispatcher.actor, ticket, version=ticket.version, changes=changes)
    assert (ticket.approver_member_id, ticket.approver_role_id) == (None, None)
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"approver_member_id": sworld.cadmin_a.id},
    )
    assert ticket.approver_member_id == sworld.cadmin_a.id
    assert "ticket.approver_set" in events(session, ticket)


def test_manual_deadline_is_logged_and_announced(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld)
    new_deadline = ticket.created_at + dt.timedelta(hours=5)
    update_ticket(
        session, sworld.dispatcher.actor, ticket, version=ticket.version, changes={"deadline": new_deadline}
    )
    assert ticket.deadline == new_deadline and ticket.deadline_manual
    assert history(session, ticket)[-1].field == "deadline"
    assert events(session, ticket)[-1] == "ticket.deadline_changed"
