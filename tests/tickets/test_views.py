"""List tabs, search, filters, keyset pages and counters (spec/domain.md §2, §5 rule 5, §6)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from builders import World, assign, fire, make_ticket, make_world, ticket_in_stage
from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Role
from fixflow.catalogs.models import Criticality, TicketType
from fixflow.core.errors import NotFound, ValidationFailed
from fixflow.objects.models import ObjectType
from fixflow.objects.service import create_object
from fixflow.tickets.listing import TicketFilters, count_views, list_tickets, list_tickets_with_counts
from fixflow.tickets.models import Favorite, Ticket
from fixflow.tickets.queries import (
    TicketView,
    _approver_role,
    _own,
    branch_view_term,
    branches_of,
    tenant_terms,
    view_branches,
    view_params,
    view_term,
    visibility_params,
    visibility_shape,
)
from fixflow.tickets.service import add_favorite, delete_ticket, get_ticket_for_actor, update_ticket
from fixflow.tickets.transitions import available_transitions_for
from fixflow.workflow.models import Status

PEOPLE = ("owner", "dispatcher", "executor", "cadmin_a", "customer_a", "customer_a2", "customer_b")
UTC = dt.UTC


def pages(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters | None = None,
    *,
    limit: int = 100,
) -> list[list[int]]:
    """Every page of the view, following the cursors."""
    out: list[list[int]] = []
    cursor = None
    while True:
        page = list_tickets(session, actor, view, filters or TicketFilters(), limit=limit, cursor=cursor)
        out.append([c.id for c in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return out
        assert len(out) < 50, "cursor does not advance"


def ids(session: Session, actor: Actor, view: TicketView, filters: TicketFilters | None = None) -> list[int]:
    return [i for page in pages(session, actor, view, filters) for i in page]


def find(session: Session, actor: Actor, q: str, view: TicketView = TicketView.ALL) -> set[int]:
    return set(ids(session, actor, view, TicketFilters(q=q)))


def cancel(session: Session, world: World, ticket: Ticket, by: str = "customer_a") -> None:
    fire(session, world, ticket, by, "Отменить заявку")


def status_id(session: Session, world: World, name: str) -> int:
    found = session.scalar(select(Status.id).where(Status.tenant_id == world.tenant_id, Status.name == name))
    assert found is not None
    return found


# --- tabs ---------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(session: Session, sworld: World) -> dict[str, Ticket]:
    """Open and closed tickets of several initiators, one assigned to the executor."""
    tickets = {
        "a_open": make_ticket(session, sworld, by="customer_a"),
        "a_closed": make_ticket(session, sworld, by="customer_a"),
        "a2_open": make_ticket(session, sworld, by="customer_a2"),
        "b_open": make_ticket(session, sworld, by="customer_b"),
        "disp_open": make_ticket(session, sworld, by="dispatcher"),
        "assigned": make_ticket(session, sworld, by="customer_a"),
        "assigned_closed": ticket_in_stage(session, sworld, "Закрыта", by="customer_b"),
    }
    cancel(session, sworld, tickets["a_closed"])
    assign(session, sworld, tickets["assigned"], "executor")
    return tickets


def test_mine_is_my_open_tickets_and_a_subset_of_all(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    for key in PEOPLE:
        actor = sworld.people[key].actor
        mine, everything = ids(session, actor, TicketView.MINE), ids(session, actor, TicketView.ALL)
        assert set(mine) <= set(everything), key
        expected = {t.id for t in mixed.values() if t.initiator_id == actor.member_id and t.closed_at is None}
        assert set(mine) == expected, key
    assert set(ids(session, sworld.customer_a.actor, TicketView.MINE)) == {
        mixed["a_open"].id,
        mixed["assigned"].id,
    }


def test_closed_tickets_leave_all_and_mine_and_appear_in_archive(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    closed = {mixed["a_closed"].id, mixed["assigned_closed"].id}
    for key in PEOPLE:
        actor = sworld.people[key].actor
        for view in (TicketView.ALL, TicketView.MINE, TicketView.APPROVAL):
            assert not set(ids(session, actor, view)) & closed, (key, view)
    owner = sworld.owner.actor
    assert set(ids(session, owner, TicketView.ARCHIVE)) == closed
    assert set(ids(session, owner, TicketView.ALL)) == {t.id for t in mixed.values()} - closed
    assert set(ids(session, sworld.customer_a.actor, TicketView.ARCHIVE)) == {mixed["a_closed"].id}
    assert set(ids(session, sworld.customer_b.actor, TicketView.ARCHIVE)) == {mixed["assigned_closed"].id}


def test_favorites_show_closed_and_open_tickets(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    actor = sworld.customer_a.actor
    add_favorite(session, actor, mixed["a_closed"])
    add_favorite(session, actor, mixed["a_open"])
    assert set(ids(session, actor, TicketView.FAVORITES)) == {mixed["a_closed"].id, mixed["a_open"].id}
    assert ids(session, sworld.cadmin_a.actor, TicketView.FAVORITES) == []


def test_favorites_never_reveal_invisible_tickets(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld, by="customer_a")
    add_favorite(session, sworld.customer_a2.actor, ticket)  # a stale favourite of a ticket not visible
    assert ids(session, sworld.customer_a2.actor, TicketView.FAVORITES) == []


def awaiting_the_customer_role(
    session: Session, world: World, by: str = "customer_a", role: str = "customer"
) -> Ticket:
    """A ticket of ``by``'s company at «Согласование» awaiting a role (no member): `customer` by default."""
    customer_role = session.scalar(
        select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == role)
    )
    ticket = ticket_in_stage(session, world, "Согласование", by=by, approver="customer_a2")
    update_ticket(
        session,
        world.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"approver_member_id": None, "approver_role_id": customer_role},
    )
    return ticket


def test_approval_tab_is_exactly_where_an_approval_transition_is_offered(
    session: Session, sworld: World
) -> None:
    awaiting_a2 = ticket_in_stage(session, sworld, "Согласование", approver="customer_a2")
    awaiting_a = ticket_in_stage(session, sworld, "Согласование", approver="customer_a")
    by_role = awaiting_the_customer_role(session, sworld)
    not_yet = ticket_in_stage(session, sworld, "В работе")
    update_ticket(
        session,
        sworld.dispatcher.actor,
        not_yet,
        version=not_yet.version,
        changes={"approver_member_id": sworld.customer_a2.id},
    )
    rejected = ticket_in_stage(session, sworld, "Не согласована", approver="customer_a2")
    everything = [awaiting_a2, awaiting_a, by_role, not_yet, rejected]
    for key in (*PEOPLE, "cadmin_b"):
        actor = sworld.people[key].actor
        tab = set(ids(session, actor, TicketView.APPROVAL))
        expected = {
            t.id
            for t in everything
            if any(o.branch == "approval" for o in available_transitions_for(session, actor, t))
        }
        assert tab == expected, key
    assert set(ids(session, sworld.customer_a2.actor, TicketView.APPROVAL)) == {awaiting_a2.id, by_role.id}
    # awaiting the customer role opens the ticket to its own company's customers, not another's
    assert ids(session, sworld.customer_b.actor, TicketView.APPROVAL) == []
    for view in TicketView:
        assert by_role.id not in ids(session, sworld.customer_b.actor, view), view
        assert by_role.id not in ids(session, sworld.cadmin_b.actor, view), view
    assert count_views(session, sworld.customer_b.actor)["approval"] == 0
    with pytest.raises(NotFound):
        get_ticket_for_actor(session, sworld.customer_b.actor, by_role.id)
    assert set(ids(session, sworld.customer_a.actor, TicketView.APPROVAL)) == {awaiting_a.id, by_role.id}
    assert ids(session, sworld.dispatcher.actor, TicketView.APPROVAL) == []


def test_a_views_own_branches_find_exactly_what_every_branch_finds(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    """``view_branches`` narrows the index scans of «Мои» and «Согласование», never their tickets."""
    awaiting_the_customer_role(session, sworld, by="customer_a2")
    ticket_in_stage(session, sworld, "Согласование", by="customer_a2", approver="customer_a")
    ticket_in_stage(session, sworld, "Согласование", by="customer_b", approver="cadmin_a")
    add_favorite(session, sworld.cadmin_a.actor, mixed["b_open"])
    add_favorite(session, sworld.customer_a.actor, mixed["a2_open"])
    # the executor has no own scope: a ticket they filed but are not assigned to is none of theirs
    make_ticket(session, sworld, by="executor")
    checked = 0
    for key in (*PEOPLE, "cadmin_b"):
        actor = sworld.people[key].actor
        shape = visibility_shape(actor)
        for view in TicketView:
            params = {**visibility_params(actor), **view_params(session, actor, TicketView.APPROVAL)}
            every, own = branches_of(shape, params), view_branches(view, shape, params)
            if every is None:
                assert own is None
                continue
            assert own is not None

            def found(
                branches: list[Any], view: TicketView = view, shape: Any = shape, p: Any = params
            ) -> set[int]:
                where = [*tenant_terms(shape, p), view_term(view, shape, p), or_(*branches)]
                return set(session.scalars(select(Ticket.id).where(*where), p))

            assert found(own) == found(every), (key, view)
            # each branch with the view's branch term, as the lists and counters run them
            term = branch_view_term(view, shape, params)
            by_branch = set().union(
                *(
                    session.scalars(select(Ticket.id).where(*tenant_terms(shape, params), term, b), params)
                    for b in own
                )
            )
            assert by_branch == found(every), (key, view)
            checked += len(every) - len(own)
    assert checked > 0  # some view of some person was narrowed


def test_branches_leave_out_only_terms_other_branches_contain(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    """A customer admin's own tickets and company-limited awaited roles are no branches of their own;
    a colleague's ticket outside their companies still reaches them through the colleagues branch."""
    make_ticket(session, sworld, by="cadmin_a")
    # Filed for a colleague on another company's object: visible to cadmin_a through that branch alone.
    elsewhere = make_ticket(
        session, sworld, by="dispatcher", object_id=sworld.objects_b[1], initiator_id=sworld.customer_a2.id
    )
    awaiting_the_customer_role(session, sworld, by="customer_a2", role="customer_admin")
    awaiting_the_customer_role(session, sworld, by="customer_b", role="customer_admin")
    awaiting_the_customer_role(session, sworld, by="customer_b")
    awaiting_the_customer_role(session, sworld, by="customer_a2")  # customer_a's only by the role
    cadmin = sworld.cadmin_a.actor
    cadmin_branches = branches_of(visibility_shape(cadmin), visibility_params(cadmin))
    assert cadmin_branches is not None and len(cadmin_branches) == 3  # approver, company, colleagues
    # Colleagues too many to list are a subquery the actor's own tickets are not proven part of.
    unlisted = dataclasses.replace(cadmin, colleague_ids=None)
    assert not visibility_shape(unlisted).own_among_colleagues
    assert len(branches_of(visibility_shape(unlisted), visibility_params(unlisted)) or ()) == 4
    for key in (*PEOPLE, "cadmin_b"):
        actor = sworld.people[key].actor
        shape, params = visibility_shape(actor), visibility_params(actor)
        branches = branches_of(shape, params)
        if branches is None:
            continue
        unreduced = [*branches, _approver_role(shape, params)] if shape.by_role else list(branches)
        if shape.own:
            unreduced.append(_own(params))

        def found(terms: list[Any], shape: Any = shape, p: Any = params) -> set[int]:
            where = [*tenant_terms(shape, p), or_(*terms)]
            return set(session.scalars(select(Ticket.id).where(*where), p))

        assert found(branches) == found(unreduced), key
        if key == "cadmin_a":
            assert elsewhere.id in found(branches[-1:]) and elsewhere.id not in found(branches[:-1])


# --- order and keyset pages ---------------------------------------------------------------------------


def test_lists_are_newest_first_and_pages_have_no_duplicates_or_gaps(session: Session, sworld: World) -> None:
    made = [make_ticket(session, sworld, by="customer_a").id for _ in range(7)]
    actor = sworld.customer_a.actor
    paged = pages(session, actor, TicketView.ALL, limit=3)
    assert [len(p) for p in paged] == [3, 3, 1]
    flat = [i for p in paged for i in p]
    assert flat == sorted(made, reverse=True)
    exact = pages(session, actor, TicketView.ALL, limit=7)
    assert exact == [sorted(made, reverse=True)]  # no empty trailing page


def test_keyset_pages_stay_stable_when_tickets_arrive_between_pages(session: Session, sworld: World) -> None:
    made = [make_ticket(session, sworld, by="customer_a").id for _ in range(5)]
    actor = sworld.customer_a.actor
    first = list_tickets(session, actor, TicketView.ALL, TicketFilters(), limit=2)
    newcomer = make_ticket(session, sworld, by="customer_a").id
    rest: list[int] = []
    cursor = first.next_cursor
    while cursor:
        page = list_tickets(session, actor, TicketView.ALL, TicketFilters(), limit=2, cursor=cursor)
        rest += [c.id for c in page.items]
        cursor = page.next_cursor
    seen = [c.id for c in first.items] + rest
    assert seen == sorted(made, reverse=True)
    assert newcomer not in seen


def test_archive_is_newest_closing_first_across_pages(session: Session, sworld: World) -> None:
    tickets = [make_ticket(session, sworld, by="customer_a") for _ in range(5)]
    for t in tickets:
        cancel(session, sworld, t)
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # closing order deliberately differs from id order; two tickets share a closing instant
    offsets = [3, 10, 3, 1, 7]
    for t, hours in zip(tickets, offsets, strict=True):
        t.closed_at = base + dt.timedelta(hours=hours)
    session.flush()
    expected = [t.id for t in sorted(tickets, key=lambda t: (t.closed_at, t.id), reverse=True)]
    actor = sworld.customer_a.actor
    assert ids(session, actor, TicketView.ARCHIVE) == expected
    for limit in (1, 2, 3):
        paged = pages(session, actor, TicketView.ARCHIVE, limit=limit)
        assert [i for p in paged for i in p] == expected, limit


def test_invalid_cursor_is_a_validation_error(session: Session, sworld: World) -> None:
    for bad in ("garbage!!", "WzEsMl0"):  # the second one is valid base64 of [1,2] but the wrong arity
        with pytest.raises(ValidationFailed):
            list_tickets(session, sworld.owner.actor, TicketView.ALL, TicketFilters(), cursor=bad)


# --- search -------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(session: Session, sworld: World) -> dict[str, Ticket]:
    types = {
        t.name: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == sworld.tenant_id))
    }
    boiler = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="Boiler House North",
        type_id=types["Площадка"],
        company_id=sworld.company_a,
        address="12 Lenina Street",
    )
    return {
        "pump": make_ticket(session, sworld, description="Broken PUMP seal"),
        "boiler": make_ticket(session, sworld, object_id=boiler.id, description="No heating"),
        "percent": make_ticket(session, sworld, description="Discount 100% wrong"),
        "under": make_ticket(session, sworld, description="snake_case label"),
        "ru_lower": make_ticket(session, sworld, description="протечка крыши в подвале"),
    }


def test_search_by_number(session: Session, sworld: World, searchable: dict[str, Ticket]) -> None:
    actor = sworld.customer_a.actor
    target = searchable["boiler"]
    assert find(session, actor, target.number) == {target.id}
    assert find(session, actor, f"  {target.number}  ") == {target.id}
    prefix = target.number.split("-")[0]  # the {YY}{MM} part: every ticket of this month
    assert find(session, actor, prefix) == {t.id for t in searchable.values()}


def test_search_by_description_is_case_insensitive(
    session: Session, sworld: World, searchable: dict[str, Ticket]
) -> None:
    actor = sworld.customer_a.actor
    for q in ("seal", "SEAL", "Broken pump SEAL", "rOKEN"):
        assert find(session, actor, q) == {searchable["pump"].id}, q
    # an upper-case query over lower-case Cyrillic text
    assert find(session, actor, "КРЫШИ") == {searchable["ru_lower"].id}
    assert find(session, actor, "нет такого") == set()


def test_search_by_object_name_and_address(
    session: Session, sworld: World, searchable: dict[str, Ticket]
) -> None:
    actor = sworld.customer_a.actor
    assert searchable["boiler"].address == "12 Lenina Street"
    assert find(session, actor, "boiler house") == {searchable["boiler"].id}
    assert find(session, actor, "LENINA") == {searchable["boiler"].id}
    # the default tickets are filed on "Pump A": its name matches, its seal description only one
    assert searchable["pump"].id in find(session, actor, "pump a")


def test_search_treats_like_wildcards_literally(
    session: Session, sworld: World, searchable: dict[str, Ticket]
) -> None:
    actor = sworld.customer_a.actor
    assert find(session, actor, "100%") == {searchable["percent"].id}
    assert find(session, actor, "%") == {searchable["percent"].id}
    assert find(session, actor, "e_c") == {searchable["under"].id}


def test_search_respects_visibility_and_the_view(
    session: Session, sworld: World, searchable: dict[str, Ticket]
) -> None:
    theirs = make_ticket(session, sworld, by="customer_b", description="Broken pump at B")
    assert theirs.id not in find(session, sworld.customer_a.actor, "pump")
    assert theirs.id in find(session, sworld.customer_b.actor, "pump")
    cancel(session, sworld, searchable["pump"])
    assert searchable["pump"].id not in find(session, sworld.customer_a.actor, "seal")
    assert find(session, sworld.customer_a.actor, "seal", TicketView.ARCHIVE) == {searchable["pump"].id}


def test_search_is_case_insensitive_for_cyrillic_text(session: Session, sworld: World) -> None:
    # SQLite's own lower() folds ASCII only; core/db.py registers a Unicode lower() for SQLite
    types = {
        t.name: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == sworld.tenant_id))
    }
    obj = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="Котельная Северная",
        type_id=types["Площадка"],
        company_id=sworld.company_a,
        address="Улица Ленина, 12",
    )
    ticket = make_ticket(session, sworld, object_id=obj.id, description="Протечка КРЫШИ")
    actor = sworld.customer_a.actor
    assert find(session, actor, "крыши") == {ticket.id}
    assert find(session, actor, "котельная") == {ticket.id}
    assert find(session, actor, "улица ленина") == {ticket.id}


# --- filters ------------------------------------------------------------------------------------------


def test_filter_by_status(session: Session, sworld: World) -> None:
    new = make_ticket(session, sworld)
    assigned = ticket_in_stage(session, sworld, "Назначена")
    actor = sworld.owner.actor
    assert ids(
        session, actor, TicketView.ALL, TicketFilters(status_id=status_id(session, sworld, "Новая"))
    ) == [new.id]
    in_work = TicketFilters(status_id=status_id(session, sworld, "В работе"))
    assert ids(session, actor, TicketView.ALL, in_work) == [assigned.id]


def test_filter_by_object_includes_the_subtree(session: Session, sworld: World) -> None:
    site_a, pump_a = sworld.objects_a
    on_site = make_ticket(session, sworld, object_id=site_a)
    on_pump = make_ticket(session, sworld, object_id=pump_a)
    on_b = make_ticket(session, sworld, by="customer_b")
    actor = sworld.owner.actor
    assert set(ids(session, actor, TicketView.ALL, TicketFilters(object_id=site_a))) == {
        on_site.id,
        on_pump.id,
    }
    assert ids(session, actor, TicketView.ALL, TicketFilters(object_id=pump_a)) == [on_pump.id]
    assert ids(session, actor, TicketView.ALL, TicketFilters(object_id=sworld.site_b)) == [on_b.id]


def test_filter_by_object_does_not_match_ids_sharing_a_prefix(session: Session, sworld: World) -> None:
    # materialised paths "/7/" and "/70/": a subtree filter must not mix them up
    types = {
        t.name: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == sworld.tenant_id))
    }
    made = [
        create_object(
            session,
            tenant_id=sworld.tenant_id,
            name=f"S{i}",
            type_id=types["Площадка"],
            company_id=sworld.company_a,
            address="x",
        )
        for i in range(12)
    ]
    tickets = {o.id: make_ticket(session, sworld, object_id=o.id).id for o in made}
    for obj in made:
        assert ids(session, sworld.owner.actor, TicketView.ALL, TicketFilters(object_id=obj.id)) == [
            tickets[obj.id]
        ]


def test_filter_by_object_of_another_tenant_finds_nothing(session: Session, sworld: World) -> None:
    other = make_world(session)
    make_ticket(session, sworld)
    make_ticket(session, other)
    assert ids(session, sworld.owner.actor, TicketView.ALL, TicketFilters(object_id=other.site_a)) == []


def test_filter_by_type(session: Session, sworld: World) -> None:
    base_type = session.get(TicketType, sworld.type_id)
    assert base_type is not None
    second = TicketType(
        tenant_id=sworld.tenant_id,
        name="Гарантийная",
        number_mask="G-{####}",
        lifecycle_id=base_type.lifecycle_id,
    )
    session.add(second)
    session.flush()
    repair = make_ticket(session, sworld)
    warranty = make_ticket(session, sworld, type_id=second.id)
    actor = sworld.owner.actor
    assert ids(session, actor, TicketView.ALL, TicketFilters(type_id=second.id)) == [warranty.id]
    assert ids(session, actor, TicketView.ALL, TicketFilters(type_id=sworld.type_id)) == [repair.id]


def test_filter_by_criticality(session: Session, sworld: World) -> None:
    crit = {
        c.name: c.id
        for c in session.scalars(select(Criticality).where(Criticality.tenant_id == sworld.tenant_id))
    }
    high = make_ticket(session, sworld, criticality_id=crit["Высокая"])
    default = make_ticket(session, sworld)
    assert default.criticality_id == crit["Средняя"]  # the tenant's default
    actor = sworld.owner.actor
    assert ids(session, actor, TicketView.ALL, TicketFilters(criticality_id=crit["Высокая"])) == [high.id]
    assert ids(session, actor, TicketView.ALL, TicketFilters(criticality_id=crit["Средняя"])) == [default.id]
    assert ids(session, actor, TicketView.ALL, TicketFilters(criticality_id=crit["Низкая"])) == []


def test_filter_by_period(session: Session, sworld: World) -> None:
    days = [
        dt.datetime(2026, 1, 10, tzinfo=UTC),
        dt.datetime(2026, 1, 20, tzinfo=UTC),
        dt.datetime(2026, 2, 1, tzinfo=UTC),
    ]
    made = []
    for day in days:
        t = make_ticket(session, sworld)
        t.created_at = day
        made.append(t.id)
    session.flush()
    actor = sworld.owner.actor

    def period(start: dt.datetime | None, end: dt.datetime | None) -> set[int]:
        return set(ids(session, actor, TicketView.ALL, TicketFilters(created_from=start, created_to=end)))

    assert period(dt.datetime(2026, 1, 15, tzinfo=UTC), None) == {made[1], made[2]}
    assert period(None, dt.datetime(2026, 2, 1, tzinfo=UTC)) == {made[0], made[1]}  # the end is exclusive
    assert period(dt.datetime(2026, 1, 20, tzinfo=UTC), dt.datetime(2026, 1, 21, tzinfo=UTC)) == {
        made[1]
    }  # start inclusive
    assert period(dt.datetime(2026, 3, 1, tzinfo=UTC), None) == set()


def test_filters_combine_with_and(session: Session, sworld: World) -> None:
    crit = {
        c.name: c.id
        for c in session.scalars(select(Criticality).where(Criticality.tenant_id == sworld.tenant_id))
    }
    hit = make_ticket(
        session, sworld, object_id=sworld.objects_a[1], criticality_id=crit["Высокая"], description="leak"
    )
    make_ticket(session, sworld, object_id=sworld.objects_a[1], description="leak")
    make_ticket(
        session, sworld, object_id=sworld.objects_a[0], criticality_id=crit["Высокая"], description="leak"
    )
    make_ticket(
        session, sworld, object_id=sworld.objects_a[1], criticality_id=crit["Высокая"], description="dry"
    )
    filters = TicketFilters(q="leak", object_id=sworld.objects_a[1], criticality_id=crit["Высокая"])
    assert ids(session, sworld.owner.actor, TicketView.ALL, filters) == [hit.id]


# --- counters -----------------------------------------------------------------------------------------


def test_counts_match_the_lists(session: Session, sworld: World, mixed: dict[str, Ticket]) -> None:
    awaiting = ticket_in_stage(session, sworld, "Согласование", approver="customer_a")
    add_favorite(session, sworld.customer_a.actor, mixed["a_closed"])
    for key in PEOPLE:
        actor = sworld.people[key].actor
        counts = count_views(session, actor)
        assert set(counts) == {v.value for v in TicketView}
        for view in TicketView:
            assert counts[view.value] == len(ids(session, actor, view)), (key, view)
    counts = count_views(session, sworld.customer_a.actor)
    assert counts == {"mine": 3, "approval": 1, "all": 3, "favorites": 1, "archive": 1}
    assert awaiting.id in ids(session, sworld.customer_a.actor, TicketView.APPROVAL)


def test_favorites_counter_of_who_sees_everything_drops_deleted_tickets_unless_they_see_them(
    session: Session, sworld: World, mixed: dict[str, Ticket]
) -> None:
    # Counted from the favourites alone, by the deleted mark they carry (queries.favorites_of_everyone),
    # not ticket by ticket: it must still agree with the list.
    kept, deleted = mixed["disp_open"], mixed["b_open"]
    for who in ("dispatcher", "owner"):
        for ticket in (kept, deleted, mixed["a_closed"]):
            add_favorite(session, sworld.people[who].actor, ticket)
    delete_ticket(session, sworld.owner.actor, deleted)
    # A favourite taken of a ticket already deleted (whoever sees deleted tickets may) carries the mark too.
    delete_ticket(session, sworld.owner.actor, mixed["a2_open"])
    add_favorite(session, sworld.owner.actor, mixed["a2_open"])
    session.flush()
    marks = dict(
        session.execute(
            select(Favorite.ticket_id, Favorite.ticket_deleted)
            .where(Favorite.tenant_id == sworld.tenant_id)
            .distinct()
        ).all()
    )
    assert marks == {kept.id: False, deleted.id: True, mixed["a_closed"].id: False, mixed["a2_open"].id: True}
    dispatcher, owner = sworld.dispatcher.actor, sworld.owner.actor
    assert visibility_shape(dispatcher).all_tickets and visibility_shape(dispatcher).hide_deleted
    assert visibility_shape(owner).all_tickets and not visibility_shape(owner).hide_deleted
    assert set(ids(session, dispatcher, TicketView.FAVORITES)) == {kept.id, mixed["a_closed"].id}
    assert count_views(session, dispatcher)["favorites"] == 2
    assert len(ids(session, owner, TicketView.FAVORITES)) == count_views(session, owner)["favorites"] == 4
    assert count_views(session, sworld.customer_a.actor)["favorites"] == 0  # others' favourites are theirs
    # the cards' flag: a probe per row for whoever sees everything, an outer join for customers
    add_favorite(session, sworld.customer_a.actor, mixed["a_open"])
    expected = {
        (dispatcher, TicketView.ALL): {kept.id},
        (dispatcher, TicketView.ARCHIVE): {mixed["a_closed"].id},
        (sworld.customer_a.actor, TicketView.ALL): {mixed["a_open"].id},
        (sworld.customer_a.actor, TicketView.ARCHIVE): set(),
    }
    for (actor, view), marked in expected.items():
        cards = list_tickets(session, actor, view, TicketFilters(), limit=100).items
        assert cards and {c.id for c in cards if c.is_favorite} == marked, (actor.member_id, view)


def test_company_scope_pages_merge_every_branch_in_order(session: Session, sworld: World) -> None:
    """A customer admin's pages are cut from per-branch index scans: nothing lost, doubled or misordered."""
    own = [make_ticket(session, sworld, by="cadmin_a") for _ in range(3)]
    colleague = [make_ticket(session, sworld, by="customer_a2") for _ in range(4)]
    # filed by a colleague on another company's object: visible only through the colleague branch
    elsewhere = [
        make_ticket(
            session, sworld, by="dispatcher", object_id=sworld.objects_b[1], initiator_id=sworld.customer_a.id
        )
        for _ in range(3)
    ]
    other_company = [make_ticket(session, sworld, by="customer_b") for _ in range(3)]
    approving = other_company[0]
    approving.approver_member_id = sworld.cadmin_a.id
    session.flush()
    actor = sworld.cadmin_a.actor
    expected_open = sorted([t.id for t in own + colleague + elsewhere] + [approving.id], reverse=True)
    for limit in (1, 2, 5, 100):
        assert [i for p in pages(session, actor, TicketView.ALL, limit=limit) for i in p] == expected_open
    closing = own + colleague[:2] + elsewhere[:1] + other_company[1:]
    for t in closing:
        t.closed_at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + dt.timedelta(minutes=t.id % 3)
    session.flush()
    visible_closed = [t for t in own + colleague[:2] + elsewhere[:1]]
    expected_archive = [t.id for t in sorted(visible_closed, key=lambda t: (t.closed_at, t.id), reverse=True)]
    for limit in (1, 2, 4, 100):
        assert [
            i for p in pages(session, actor, TicketView.ARCHIVE, limit=limit) for i in p
        ] == expected_archive


def test_a_page_with_its_counters_counts_like_the_counters(session: Session, sworld: World) -> None:
    make_ticket(session, sworld)
    assigned = ticket_in_stage(session, sworld, "Назначена")
    add_favorite(session, sworld.customer_a.actor, assigned)
    cancel(session, sworld, make_ticket(session, sworld))
    for who in PEOPLE:
        actor = sworld.people[who].actor
        expected = count_views(session, actor)
        for view in TicketView:  # empty tabs too: their counters are read on their own
            page, counts = list_tickets_with_counts(session, actor, view, TicketFilters())
            assert counts == expected, (who, view)
            assert [c.id for c in page.items] == ids(session, actor, view)[: len(page.items)]
            for counted in ((TicketView.APPROVAL,), (TicketView.ARCHIVE, TicketView.MINE), ()):
                _page, some = list_tickets_with_counts(session, actor, view, TicketFilters(), counted=counted)
                assert some == {v.value: expected[v.value] for v in counted}, (who, view, counted)
