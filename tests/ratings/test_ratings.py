"""Ratings (spec/domain.md §6): when, by whom, what is valid, and how scores add up."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from builders import World, assign, fire, make_ticket, make_world, ticket_in_stage
from fixflow.catalogs.models import RatingCriterion
from fixflow.core.errors import Forbidden, ValidationFailed
from fixflow.jobs.models import OutboxEvent
from fixflow.ratings.models import Rating
from fixflow.ratings.service import executor_rating, may_rate, rate_ticket
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Ticket, TicketHistory
from fixflow.tickets.service import delete_ticket
from fixflow.tickets.transitions import move_ticket_to_stage
from fixflow.workflow.models import Stage


def criteria(session: Session, world: World) -> list[RatingCriterion]:
    stmt = (
        select(RatingCriterion)
        .where(RatingCriterion.tenant_id == world.tenant_id)
        .order_by(RatingCriterion.sort_order, RatingCriterion.id)
    )
    return list(session.scalars(stmt))


def stars(session: Session, world: World, *values: int) -> dict[int, int]:
    active = [c for c in criteria(session, world) if c.active]
    assert len(active) == len(values)
    return {c.id: v for c, v in zip(active, values, strict=True)}


def rate(session: Session, world: World, ticket: Ticket, who: str, *values: int, comment: str = "") -> Rating:
    return rate_ticket(
        session, world.people[who].actor, ticket, scores=stars(session, world, *values), comment=comment
    )


def problems(error: ValidationFailed) -> set[str]:
    return {p.field for p in error.errors}


def rated_history(session: Session, ticket: Ticket) -> list[TicketHistory]:
    stmt = select(TicketHistory).where(
        TicketHistory.ticket_id == ticket.id, TicketHistory.kind == HistoryKind.RATED
    )
    return list(session.scalars(stmt.order_by(TicketHistory.id)))


# --- when ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["Выполнена", "Закрыта"])
def test_rating_is_open_in_complete_and_close_stages(session: Session, sworld: World, stage: str) -> None:
    ticket = ticket_in_stage(session, sworld, stage)
    assert may_rate(session, sworld.customer_a.actor, ticket)
    rating = rate(session, sworld, ticket, "customer_a", 5, 4)
    assert rating.score == 4.5


def test_rating_is_closed_before_completion(session: Session, sworld: World) -> None:
    stages = [
        "Новая",
        "Назначена",
        "Принята",
        "В работе",
        "Согласование",
        "Не согласована",
        "Работы выполнены",
    ]
    for stage in [*stages, "Отказ исполнителя"]:
        ticket = ticket_in_stage(session, sworld, stage, approver="customer_a2")
        for who in ("customer_a", "cadmin_a"):
            assert not may_rate(session, sworld.people[who].actor, ticket), stage
            with pytest.raises(Forbidden):
                rate(session, sworld, ticket, who, 5, 5)


def test_cancelled_ticket_cannot_be_rated_although_it_is_closed(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Отказ заказчика")
    assert ticket.closed_at is not None
    for who in ("customer_a", "cadmin_a"):
        assert not may_rate(session, sworld.people[who].actor, ticket)
        with pytest.raises(Forbidden):
            rate(session, sworld, ticket, who, 5, 5)


def test_deleted_ticket_cannot_be_rated(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    delete_ticket(session, sworld.owner.actor, ticket)
    with pytest.raises(Forbidden):
        rate(session, sworld, ticket, "customer_a", 5, 5)


# --- who ----------------------------------------------------------------------------------------------


def test_only_the_initiator_or_a_customer_admin_of_the_company_rates(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    allowed = {"customer_a", "cadmin_a"}
    for who in sworld.people:
        assert may_rate(session, sworld.people[who].actor, ticket) is (who in allowed), who
        if who not in allowed:
            with pytest.raises(Forbidden):
                rate(session, sworld, ticket, who, 3, 3)
    assert session.scalar(select(func.count()).where(Rating.ticket_id == ticket.id)) == 0
    rate(session, sworld, ticket, "cadmin_a", 4, 4)
    rate(session, sworld, ticket, "customer_a", 2, 2)
    assert session.scalar(select(func.count()).where(Rating.ticket_id == ticket.id)) == 2


def test_staff_initiator_does_not_rate(session: Session, sworld: World) -> None:
    # rating is the customer's voice: a staff initiator lacks ticket.rate
    ticket = make_ticket(session, sworld, by="dispatcher", object_id=sworld.objects_a[1])
    done = session.scalar(
        select(Stage.id).where(Stage.tenant_id == sworld.tenant_id, Stage.name == "Выполнена")
    )
    assert done is not None
    move_ticket_to_stage(session, sworld.owner.actor, ticket, stage_id=done, version=ticket.version)
    assert not may_rate(session, sworld.dispatcher.actor, ticket)
    assert may_rate(session, sworld.cadmin_a.actor, ticket)


# --- what is valid ------------------------------------------------------------------------------------


def test_stars_are_whole_numbers_from_one_to_five(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    first, second = (c.id for c in criteria(session, sworld))
    bad_values: list[Any] = [0, 6, -1, 10, True, "5", 4.5, None]
    for bad in bad_values:
        with pytest.raises(ValidationFailed) as caught:
            rate_ticket(session, sworld.customer_a.actor, ticket, scores={first: bad, second: 5})
        assert problems(caught.value) == {f"scores.{first}"}, bad
    assert session.scalar(select(func.count()).where(Rating.ticket_id == ticket.id)) == 0
    assert ticket.rating_score is None
    for good in (1, 2, 3, 4, 5):
        assert (
            rate_ticket(session, sworld.customer_a.actor, ticket, scores={first: good, second: good}).score
            == good
        )


def test_every_active_criterion_is_required(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    first, second = (c.id for c in criteria(session, sworld))
    with pytest.raises(ValidationFailed) as caught:
        rate_ticket(session, sworld.customer_a.actor, ticket, scores={first: 5})
    assert problems(caught.value) == {f"scores.{second}"}
    with pytest.raises(ValidationFailed) as caught:
        rate_ticket(session, sworld.customer_a.actor, ticket, scores={})
    assert problems(caught.value) == {f"scores.{first}", f"scores.{second}"}


def test_unknown_or_inactive_criterion_is_refused(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    first, second = criteria(session, sworld)
    with pytest.raises(ValidationFailed) as caught:
        rate_ticket(session, sworld.customer_a.actor, ticket, scores={first.id: 5, second.id: 5, 999999: 5})
    assert problems(caught.value) == {"scores.999999"}
    second.active = False
    session.flush()
    # the inactive criterion is neither required nor accepted
    rating = rate_ticket(session, sworld.customer_a.actor, ticket, scores={first.id: 3})
    assert rating.scores == {str(first.id): 3}
    with pytest.raises(ValidationFailed) as caught:
        rate_ticket(session, sworld.customer_a.actor, ticket, scores={first.id: 3, second.id: 4})
    assert problems(caught.value) == {f"scores.{second.id}"}


def test_criterion_of_another_tenant_is_unknown(session: Session, sworld: World) -> None:
    other = make_world(session)
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    theirs = criteria(session, other)[0].id
    scores = stars(session, sworld, 5, 5) | {theirs: 5}
    with pytest.raises(ValidationFailed) as caught:
        rate_ticket(session, sworld.customer_a.actor, ticket, scores=scores)
    assert problems(caught.value) == {f"scores.{theirs}"}


# --- re-rating ----------------------------------------------------------------------------------------


def test_re_rating_replaces_the_previous_rating_and_is_logged(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    first = rate(session, sworld, ticket, "customer_a", 2, 2, comment="медленно")
    second = rate(session, sworld, ticket, "customer_a", 5, 4, comment="  исправили  ")
    assert second.id == first.id
    rows = session.scalars(select(Rating).where(Rating.ticket_id == ticket.id)).all()
    assert len(rows) == 1
    assert rows[0].score == 4.5 and rows[0].comment == "исправили"
    assert ticket.rating_score == 4.5
    logged = rated_history(session, ticket)
    assert len(logged) == 2
    assert logged[0].old is None
    assert (
        logged[1].old is not None and logged[1].old["score"] == 2.0 and logged[1].old["comment"] == "медленно"
    )
    assert logged[1].new["score"] == 4.5
    assert all(h.actor_id == sworld.customer_a.id for h in logged)
    rated_events = session.scalars(
        select(OutboxEvent).where(OutboxEvent.ticket_id == ticket.id, OutboxEvent.kind == "ticket.rated")
    ).all()
    assert [e.payload["score"] for e in rated_events] == [2.0, 4.5]


def test_rating_survives_closing(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    rate(session, sworld, ticket, "customer_a", 4, 4)
    fire(session, sworld, ticket, "dispatcher", "Закрыть")
    rate(session, sworld, ticket, "customer_a", 5, 5)  # still allowed in the closing stage
    assert ticket.rating_score == 5.0


# --- scores -------------------------------------------------------------------------------------------


def test_ticket_score_is_the_weighted_mean_of_the_criteria(session: Session, sworld: World) -> None:
    quality, speed = criteria(session, sworld)
    quality.weight, speed.weight = 3.0, 1.0
    session.flush()
    ticket = ticket_in_stage(session, sworld, "Выполнена")
    rating = rate(session, sworld, ticket, "customer_a", 5, 1)
    assert rating.score == pytest.approx((5 * 3 + 1 * 1) / 4)  # 4.0, not the plain mean 3.0
    speed.weight = 0.5
    session.flush()
    again = rate(session, sworld, ticket, "customer_a", 2, 5)
    assert again.score == pytest.approx((2 * 3 + 5 * 0.5) / 3.5, abs=1e-4)


def test_default_criteria_have_equal_weight(session: Session, sworld: World) -> None:
    names = [(c.name, c.weight) for c in criteria(session, sworld)]
    assert names == [("Качество выполненных работ", 1.0), ("Оперативность", 1.0)]


def test_executor_rating_is_the_mean_over_their_tickets_and_shared_by_co_executors(
    session: Session, sworld: World
) -> None:
    solo = ticket_in_stage(session, sworld, "Выполнена")  # executed by "executor"
    pair = ticket_in_stage(session, sworld, "Выполнена")
    assign(session, sworld, pair, "executor", "executor2")
    unrated = ticket_in_stage(session, sworld, "Выполнена")
    rate(session, sworld, solo, "customer_a", 5, 5)  # 5.0
    rate(session, sworld, pair, "customer_a", 2, 3)  # 2.5
    assert unrated.rating_score is None
    mine = executor_rating(session, sworld.executor.id)
    theirs = executor_rating(session, sworld.executor2.id)
    assert (mine.average, mine.rated_tickets) == (3.75, 2)  # unrated tickets do not count
    assert (theirs.average, theirs.rated_tickets) == (2.5, 1)  # the co-executor gets the ticket's score
    nobody = executor_rating(session, sworld.dispatcher.id)
    assert (nobody.average, nobody.rated_tickets) == (None, 0)


def test_executor_rating_uses_the_ticket_score_not_each_rater(session: Session, sworld: World) -> None:
    first = ticket_in_stage(session, sworld, "Выполнена")
    second = ticket_in_stage(session, sworld, "Выполнена")
    rate(session, sworld, first, "customer_a", 5, 5)
    rate(session, sworld, first, "cadmin_a", 3, 3)  # the ticket's score: mean of its ratings = 4.0
    rate(session, sworld, second, "customer_a", 1, 1)
    assert first.rating_score == 4.0
    assert executor_rating(session, sworld.executor.id).average == 2.5  # (4 + 1) / 2, not (5 + 3 + 1) / 3


def test_deleted_tickets_leave_the_executor_rating(session: Session, sworld: World) -> None:
    kept = ticket_in_stage(session, sworld, "Выполнена")
    dropped = ticket_in_stage(session, sworld, "Выполнена")
    rate(session, sworld, kept, "customer_a", 4, 4)
    rate(session, sworld, dropped, "customer_a", 1, 1)
    delete_ticket(session, sworld.owner.actor, dropped)
    assert executor_rating(session, sworld.executor.id).average == 4.0
