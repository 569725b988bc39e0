"""The ticket profile in one statement: what it reads beside the ticket (as JSON on the way) must come
back as the services wrote it, and the same as the by-id path used after a change."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, assign, ticket_in_stage
from fixflow.accounts.models import Account
from fixflow.core.errors import NotFound
from fixflow.ratings.service import active_criteria, rate_ticket
from fixflow.tickets.detail import load_ticket_profile, ticket_detail
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import add_favorite


def test_the_profile_reads_people_timeline_rating_and_favourite(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    assign(session, sworld, ticket, "executor", "executor2")
    criteria = active_criteria(session, sworld.tenant_id)
    rate_ticket(
        session, sworld.customer_a.actor, ticket, scores={c.id: 4 for c in criteria}, comment="Спасибо"
    )
    add_favorite(session, sworld.customer_a.actor, ticket)
    session.flush()

    detail = load_ticket_profile(session, sworld.customer_a.actor, ticket.id)

    assert detail.ticket is ticket
    assert {p.id for p in detail.executors} == {sworld.executor.id, sworld.executor2.id}
    assert detail.initiator.id == sworld.customer_a.id and detail.initiator.name
    phone = session.scalar(select(Account.phone).where(Account.id == sworld.customer_a.actor.account_id))
    assert (detail.initiator.phone != "") == bool(phone)
    assert detail.approver_member is None
    assert detail.is_favorite
    assert detail.my_rating is not None and detail.my_rating["comment"] == "Спасибо"
    assert {int(k) for k in detail.my_rating["scores"]} == {c.id for c in criteria}
    names = [entry.status.name for entry in detail.timeline]
    assert names[0] == "Новая" and names[-1] == "Выполнена" and len(names) >= 4
    times = [entry.at for entry in detail.timeline]
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(0) for t in times)
    assert times == sorted(times)

    # The path after a write reads the same columns by id.
    again = ticket_detail(session, sworld.customer_a.actor, ticket)
    assert again == detail

    # Another actor sees their own mark and rating (none), the same people.
    other = load_ticket_profile(session, sworld.dispatcher.actor, ticket.id)
    assert not other.is_favorite and other.my_rating is None
    assert other.executors == detail.executors and other.timeline == detail.timeline


def test_the_profile_names_the_approver(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Согласование", approver="cadmin_a")
    detail = load_ticket_profile(session, sworld.cadmin_a.actor, ticket.id)
    assert detail.approver_member is not None and detail.approver_member.id == sworld.cadmin_a.id
    assert detail.approver_member.name and detail == ticket_detail(session, sworld.cadmin_a.actor, ticket)


def test_the_profile_of_a_ticket_out_of_sight_is_not_found(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Новая")
    with pytest.raises(NotFound):
        load_ticket_profile(session, sworld.customer_b.actor, ticket.id)


def test_the_profiles_ticket_is_the_stored_one_as_an_instance_of_the_session(
    session: Session, sworld: World
) -> None:
    # Built from the profile's plain row (detail._persistent_ticket), not by the ORM's loading: every
    # column must still arrive as loading would give it, and the instance behave as a loaded one.
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    ticket.fields = {"note": "Ключ у охраны"}
    session.flush()
    session.expunge(ticket)

    loaded = load_ticket_profile(session, sworld.customer_a.actor, ticket.id).ticket

    assert loaded is not ticket
    columns = [a.key for a in sa_inspect(Ticket).column_attrs]
    assert {c: getattr(loaded, c) for c in columns} == {c: getattr(ticket, c) for c in columns}
    assert loaded.closed_at is None and loaded.completed_at is not None
    assert loaded.completed_at.tzinfo is not None and loaded.fields == {"note": "Ключ у охраны"}
    state = sa_inspect(loaded)
    assert state.persistent and not state.unloaded and not state.modified
    assert loaded in session and not session.dirty and not session.new
    assert session.get(Ticket, ticket.id) is loaded
    assert load_ticket_profile(session, sworld.customer_a.actor, ticket.id).ticket is loaded
