"""The batched check agrees with the ONE visibility predicate, for every role and ticket state."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, assign, make_world, ticket_in_stage
from fixflow.accounts.actor import Actor
from fixflow.live.visibility import PredicateGroups, run_plan, visibility_sql, visible_pairs
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import visible_tickets_predicate
from fixflow.tickets.service import delete_ticket


def orm_visible(session: Session, actor: Actor, ticket_ids: list[int]) -> set[int]:
    stmt = select(Ticket.id).where(Ticket.id.in_(ticket_ids), visible_tickets_predicate(actor))
    return set(session.scalars(stmt))


def test_batched_check_matches_the_predicate(session: Session, sworld: World) -> None:
    other = make_world(session)
    tickets = [
        ticket_in_stage(session, sworld, "Новая"),
        ticket_in_stage(session, sworld, "В работе"),
        ticket_in_stage(session, sworld, "Согласование", approver="customer_a2"),
        ticket_in_stage(session, sworld, "Закрыта", by="customer_b"),
        ticket_in_stage(session, sworld, "Новая", by="cadmin_b"),
        ticket_in_stage(session, other, "Новая"),
    ]
    assign(session, sworld, tickets[0], "executor2")
    deleted = ticket_in_stage(session, sworld, "Новая", by="customer_a2")
    delete_ticket(session, sworld.owner.actor, deleted)
    tickets.append(deleted)
    ids = [t.id for t in tickets]
    people = [p.actor for p in [*sworld.people.values(), *other.people.values()]]
    dialect = session.get_bind().dialect
    expressions = {visibility_sql(actor, dialect) for actor in people}
    pairs = visible_pairs(session.connection(), sorted(expressions), ids)
    for actor in people:
        expected = orm_visible(session, actor, ids)
        got = {t for e, t in pairs if e == visibility_sql(actor, dialect)}
        assert got == expected, actor.role_codes
    assert any(pairs)  # the comparison is not vacuous
    assert {t for e, t in pairs if e == visibility_sql(sworld.owner.actor, dialect)} >= {deleted.id}
    assert deleted.id not in {t for e, t in pairs if e == visibility_sql(sworld.dispatcher.actor, dialect)}


def test_identical_predicates_share_one_expression(session: Session, sworld: World) -> None:
    dialect = session.get_bind().dialect
    assert visibility_sql(sworld.dispatcher.actor, dialect) == visibility_sql(sworld.admin.actor, dialect)
    assert visibility_sql(sworld.customer_a.actor, dialect) != visibility_sql(
        sworld.customer_a2.actor, dialect
    )


def test_groups_keep_their_statement_text_while_streams_come_and_go(session: Session, sworld: World) -> None:
    dialect = session.get_bind().dialect
    groups = PredicateGroups(dialect, group_size=2)
    a, b, c, d = (
        visibility_sql(sworld.people[n].actor, dialect)
        for n in ("customer_a", "customer_b", "cadmin_a", "executor")
    )
    for expression in (a, b, c):
        groups.acquire(expression)
    assert len(groups) == 3 and groups.groups_of([a, b]) == {0} and groups.groups_of([c]) == {1}
    first = groups.plan({0}, [1])[0].sql

    groups.release(a)
    groups.acquire(a)  # a reconnecting tab: same slot, same text, the prepared statement still fits
    assert groups.plan({0}, [1])[0].sql == first

    groups.acquire(b)
    groups.release(b)  # two tabs of b, one closes: b stays
    assert groups.groups_of([b]) == {0}
    groups.release(a)
    groups.acquire(d)  # a is gone: d takes its slot instead of growing the statement
    assert groups.groups_of([d]) == {0} and len(groups) == 3
    assert groups.plan({0}, [1])[0].sql != first


def test_ticket_ids_are_padded_to_few_statement_shapes(session: Session, sworld: World) -> None:
    dialect = session.get_bind().dialect
    groups = PredicateGroups(dialect)
    expression = visibility_sql(sworld.dispatcher.actor, dialect)
    groups.acquire(expression)
    ticket = ticket_in_stage(session, sworld, "Новая")
    shapes = {groups.plan({0}, range(1, n + 1))[0].sql for n in (2, 3, 4)}
    assert len(shapes) == 1
    plan = groups.plan({0}, [ticket.id, ticket.id + 10_000_000, ticket.id + 10_000_001])
    assert run_plan(session.connection(), plan) == {(expression, ticket.id)}
