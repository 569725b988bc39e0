"""Who sees which ticket (spec/domain.md §2): the one predicate every read goes through."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, assign, make_ticket, make_world, member, ticket_in_stage
from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Account, MemberCompany, Role
from fixflow.accounts.permissions import Scope
from fixflow.accounts.service import add_member
from fixflow.core.errors import NotFound
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import visible_tickets_predicate
from fixflow.tickets.service import (
    TicketDraft,
    create_ticket,
    delete_ticket,
    get_ticket_for_actor,
    update_ticket,
)
from fixflow.tickets.transitions import available_transitions_for

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


def visible(session: Session, actor: Actor) -> set[int]:
    """Every ticket id the actor may see, across all tenants (so leaks show up as extra ids)."""
    return set(session.scalars(select(Ticket.id).where(visible_tickets_predicate(actor))))


def who_sees(session: Session, world: World, ticket: Ticket) -> set[str]:
    return {key for key in EVERYONE if ticket.id in visible(session, world.people[key].actor)}


def actor_of(session: Session, world: World, key: str) -> Actor:
    """The actor reloaded from the database (after role or company changes)."""
    return load_actor(session, member(session, world.people[key]))


def set_role_scopes(session: Session, world: World, code: str, scopes: list[str]) -> None:
    role = session.scalar(select(Role).where(Role.tenant_id == world.tenant_id, Role.code == code))
    assert role is not None
    role.scopes = scopes
    session.flush()


STAFF_ALL = {"owner", "admin", "dispatcher"}


def test_new_customer_ticket(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld, by="customer_a")
    assert who_sees(session, sworld, ticket) == STAFF_ALL | {"customer_a", "cadmin_a"}


def test_assigned_scope_makes_the_ticket_visible_to_its_executors_only(
    session: Session, sworld: World
) -> None:
    ticket = make_ticket(session, sworld)
    assert "executor" not in who_sees(session, sworld, ticket)
    assign(session, sworld, ticket, "executor")
    assert who_sees(session, sworld, ticket) == STAFF_ALL | {"customer_a", "cadmin_a", "executor"}
    assign(session, sworld, ticket, "executor2")  # replaces the executor
    assert who_sees(session, sworld, ticket) == STAFF_ALL | {"customer_a", "cadmin_a", "executor2"}


def test_approval_scope_by_member(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld, by="customer_a")
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"approver_member_id": sworld.customer_a2.id},
    )
    assert who_sees(session, sworld, ticket) == STAFF_ALL | {"customer_a", "cadmin_a", "customer_a2"}


def test_approval_scope_by_role(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld, by="customer_a")
    role_id = session.scalar(
        select(Role.id).where(Role.tenant_id == sworld.tenant_id, Role.code == "customer_admin")
    )
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"approver_role_id": role_id},
    )
    # Members holding the awaited role see it — customers only on their own companies' tickets: the
    # role is shared by the customer admins of every company, and the other company's (cadmin_b) must
    # reach nothing of this one (issue 3: «Аптека Здоровье» reaches nothing of «Кафе Ромашка»).
    assert who_sees(session, sworld, ticket) == STAFF_ALL | {"customer_a", "cadmin_a"}
    assert not [
        t for t in available_transitions_for(session, sworld.cadmin_b.actor, ticket) if t.branch == "approval"
    ]


def test_own_scope_is_what_i_initiated(session: Session, sworld: World) -> None:
    mine = make_ticket(session, sworld, by="customer_a")
    colleague = make_ticket(session, sworld, by="customer_a2")
    seen = visible(session, sworld.customer_a.actor)
    assert mine.id in seen
    assert colleague.id not in seen  # same company, but a plain customer has no company scope
    assert visible(session, sworld.customer_a2.actor) == {colleague.id}


def test_company_scope_covers_objects_of_my_companies(session: Session, sworld: World) -> None:
    by_staff = make_ticket(session, sworld, by="dispatcher", object_id=sworld.objects_a[0])
    other = make_ticket(session, sworld, by="dispatcher", object_id=sworld.objects_b[0])
    assert visible(session, sworld.cadmin_a.actor) == {by_staff.id}
    assert visible(session, sworld.cadmin_b.actor) == {other.id}


def test_company_scope_covers_tickets_initiated_by_colleagues(session: Session, sworld: World) -> None:
    # dispatcher files a ticket for company B's object on behalf of customer_a (a member of company A)
    draft = TicketDraft(
        type_id=sworld.type_id,
        object_id=sworld.objects_b[1],
        description="Течёт",
        initiator_id=sworld.customer_a.id,
    )
    ticket = create_ticket(session, sworld.dispatcher.actor, draft)
    assert ticket.company_id == sworld.company_b
    assert ticket.initiator_id == sworld.customer_a.id
    seen_by = who_sees(session, sworld, ticket)
    assert "cadmin_a" in seen_by  # the initiator is a colleague of cadmin_a
    assert "cadmin_b" in seen_by  # the object belongs to company B
    assert "customer_a" in seen_by  # own
    assert "customer_b" not in seen_by  # neither initiated nor approver
    assert "customer_a2" not in seen_by  # colleague, but no company scope


def test_member_of_two_companies_sees_both(session: Session, sworld: World) -> None:
    a = make_ticket(session, sworld, by="customer_a")
    b = make_ticket(session, sworld, by="customer_b")
    session.add(
        MemberCompany(tenant_id=sworld.tenant_id, member_id=sworld.cadmin_a.id, company_id=sworld.company_b)
    )
    session.flush()
    assert visible(session, actor_of(session, sworld, "cadmin_a")) == {a.id, b.id}


def test_other_company_never_visible_to_customers(session: Session, sworld: World) -> None:
    b_tickets = {
        make_ticket(session, sworld, by="customer_b").id,
        make_ticket(session, sworld, by="cadmin_b").id,
    }
    for key in ("customer_a", "customer_a2", "cadmin_a"):
        assert not visible(session, sworld.people[key].actor) & b_tickets
    with pytest.raises(NotFound):
        get_ticket_for_actor(session, sworld.cadmin_a.actor, next(iter(b_tickets)))


def test_other_tenant_never_visible(session: Session, sworld: World) -> None:
    other = make_world(session)
    theirs = {
        make_ticket(session, other, by="customer_a").id,
        make_ticket(session, other, by="dispatcher").id,
    }
    ours = make_ticket(session, sworld, by="customer_a")
    for key in EVERYONE:
        seen = visible(session, sworld.people[key].actor)
        assert not seen & theirs, key
        assert ours.id not in visible(session, other.people[key].actor), key
    with pytest.raises(NotFound):
        get_ticket_for_actor(session, sworld.owner.actor, next(iter(theirs)))


def test_one_account_in_two_tenants_sees_each_tenant_separately(session: Session, sworld: World) -> None:
    other = make_world(session)
    ours = make_ticket(session, sworld, by="dispatcher")
    theirs = make_ticket(session, other, by="dispatcher")
    account = session.get(Account, sworld.dispatcher.actor.account_id)
    assert account is not None
    second = add_member(session, tenant_id=other.tenant_id, account=account, role_codes=["owner"])
    in_other = load_actor(session, second)
    assert theirs.id in visible(session, in_other)
    assert ours.id not in visible(session, in_other)
    assert theirs.id not in visible(session, sworld.dispatcher.actor)


def test_deleted_ticket_is_visible_only_to_the_owner(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Назначена")
    assert who_sees(session, sworld, ticket) >= {"admin", "dispatcher", "executor", "customer_a", "cadmin_a"}
    delete_ticket(session, sworld.admin.actor, ticket)
    assert who_sees(session, sworld, ticket) == {"owner"}
    assert get_ticket_for_actor(session, sworld.owner.actor, ticket.id).id == ticket.id
    for key in ("admin", "dispatcher", "executor", "customer_a", "cadmin_a"):
        with pytest.raises(NotFound):
            get_ticket_for_actor(session, sworld.people[key].actor, ticket.id)


def test_customers_never_get_all_even_if_their_role_is_misconfigured(session: Session, sworld: World) -> None:
    a = make_ticket(session, sworld, by="customer_a")
    b = make_ticket(session, sworld, by="customer_b")
    set_role_scopes(session, sworld, "customer", ["all", "own"])
    set_role_scopes(session, sworld, "customer_admin", ["all"])
    customer = actor_of(session, sworld, "customer_a")
    cadmin = actor_of(session, sworld, "cadmin_a")
    assert not customer.has_scope(Scope.ALL)
    assert not cadmin.has_scope(Scope.ALL)
    assert visible(session, customer) == {a.id}
    assert b.id not in visible(session, cadmin)


def test_staff_with_all_scope_sees_every_ticket_of_the_tenant(session: Session, sworld: World) -> None:
    ids = {
        make_ticket(session, sworld, by=k).id for k in ("customer_a", "customer_b", "dispatcher", "cadmin_b")
    }
    for key in STAFF_ALL:
        assert visible(session, sworld.people[key].actor) == ids


def test_role_without_scopes_sees_nothing(session: Session, sworld: World) -> None:
    make_ticket(session, sworld, by="customer_a")
    set_role_scopes(session, sworld, "customer", [])
    assert visible(session, actor_of(session, sworld, "customer_a")) == set()


def test_executor_with_unassigned_new_scope(session: Session, sworld: World) -> None:
    fresh = make_ticket(session, sworld)
    taken = make_ticket(session, sworld)
    assign(session, sworld, taken, "executor2")
    refused = ticket_in_stage(session, sworld, "Отказ исполнителя")  # unassigned, but not a new ticket
    mine = make_ticket(session, sworld)
    assign(session, sworld, mine, "executor")
    before = visible(session, sworld.executor.actor)
    assert before == {mine.id}
    set_role_scopes(session, sworld, "executor", ["assigned", "unassigned_new"])
    after = visible(session, actor_of(session, sworld, "executor"))
    assert after == {mine.id, fresh.id}
    assert taken.id not in after
    assert refused.id not in after


def test_unassigned_new_ignores_deleted_and_other_tenants(session: Session, sworld: World) -> None:
    other = make_world(session)
    theirs = make_ticket(session, other)
    gone = make_ticket(session, sworld)
    delete_ticket(session, sworld.owner.actor, gone)
    set_role_scopes(session, sworld, "executor", ["unassigned_new"])
    seen = visible(session, actor_of(session, sworld, "executor"))
    assert theirs.id not in seen
    assert gone.id not in seen


def test_scopes_are_a_union(session: Session, sworld: World) -> None:
    own = make_ticket(session, sworld, by="customer_a")
    colleague = make_ticket(session, sworld, by="customer_a2")
    approving = make_ticket(session, sworld, by="customer_b")
    update_ticket(
        session,
        sworld.dispatcher.actor,
        approving,
        version=approving.version,
        changes={"approver_member_id": sworld.customer_a.id},
    )
    assert visible(session, sworld.customer_a.actor) == {own.id, approving.id}
    set_role_scopes(session, sworld, "customer", ["own", "approval", "company"])
    assert visible(session, actor_of(session, sworld, "customer_a")) == {own.id, colleague.id, approving.id}


def test_company_scope_without_a_listed_colleague_set_reads_them_in_the_query(
    session: Session, sworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Companies too big to list colleagues fall back to a subquery with the same answer."""
    from fixflow.accounts import actor as actor_module
    from fixflow.tickets.listing import TicketFilters, list_tickets
    from fixflow.tickets.queries import TicketView

    elsewhere = make_ticket(
        session, sworld, by="dispatcher", object_id=sworld.objects_b[1], initiator_id=sworld.customer_a.id
    )
    listed = actor_of(session, sworld, "cadmin_a")
    assert listed.colleague_ids is not None
    monkeypatch.setattr(actor_module, "MAX_LISTED_COLLEAGUES", 0)
    unlisted = actor_of(session, sworld, "cadmin_a")
    assert unlisted.colleague_ids is None
    assert elsewhere.id in visible(session, unlisted)
    assert visible(session, unlisted) == visible(session, listed)
    pages = [list_tickets(session, a, TicketView.ALL, TicketFilters()).items for a in (listed, unlisted)]
    assert [c.id for c in pages[0]] == [c.id for c in pages[1]]
