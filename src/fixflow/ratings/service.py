"""Ratings: who may rate, the weighted ticket score and executors' averages (spec/domain.md §6)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.permissions import Permission
from fixflow.catalogs.models import RatingCriterion
from fixflow.catalogs.queries import rating_criteria_for
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, Forbidden, ValidationFailed
from fixflow.jobs.outbox import emit_event
from fixflow.ratings.models import Rating
from fixflow.tickets.history import HistoryKind, record
from fixflow.tickets.models import Ticket, TicketExecutor
from fixflow.workflow.service import lifecycle_of_type

RATEABLE_ACTIONS = frozenset({"complete", "close"})


def rating_open(session: Session, ticket: Ticket) -> bool:
    """In a stage with a complete/close action that is not a cancellation."""
    stage = lifecycle_of_type(session, ticket.tenant_id, ticket.type_id).stage(ticket.stage_id)
    return stage.entry_action in RATEABLE_ACTIONS and not stage.is_cancellation and not ticket.deleted_at


def may_rate(session: Session, actor: Actor, ticket: Ticket) -> bool:
    if not actor.can(Permission.TICKET_RATE) or not rating_open(session, ticket):
        return False
    return ticket.initiator_id == actor.member_id or (
        actor.is_customer_admin and ticket.company_id in actor.company_ids
    )


def active_criteria(session: Session, tenant_id: int) -> list[RatingCriterion]:
    return rating_criteria_for(session, tenant_id)


def weighted_score(scores: dict[int, int], criteria: list[RatingCriterion]) -> float:
    total_weight = sum(c.weight for c in criteria)
    return round(sum(scores[c.id] * c.weight for c in criteria) / total_weight, 4)


def _validate_scores(raw: dict[int, int], criteria: list[RatingCriterion]) -> dict[int, int]:
    problems: list[FieldProblem] = []
    known = {c.id for c in criteria}
    for criterion_id in raw:
        if criterion_id not in known:
            problems.append(FieldProblem(f"scores.{criterion_id}", "Unknown criterion"))
    for criterion in criteria:
        value = raw.get(criterion.id)
        if value is None:
            problems.append(FieldProblem(f"scores.{criterion.id}", "Rate this criterion"))
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            problems.append(FieldProblem(f"scores.{criterion.id}", "Give 1 to 5 stars"))
    if problems:
        raise ValidationFailed("Invalid rating", errors=problems)
    return {c.id: raw[c.id] for c in criteria}


def rate_ticket(
    session: Session, actor: Actor, ticket: Ticket, *, scores: dict[int, int], comment: str = ""
) -> Rating:
    if not may_rate(session, actor, ticket):
        raise Forbidden("You cannot rate this ticket now")
    criteria = active_criteria(session, ticket.tenant_id)
    if not criteria:
        raise ValidationFailed("There are no rating criteria")
    clean = _validate_scores(scores, criteria)
    score = weighted_score(clean, criteria)
    rating = session.scalar(
        select(Rating).where(Rating.ticket_id == ticket.id, Rating.rater_id == actor.member_id)
    )
    old = None
    if rating is None:
        rating = Rating(
            tenant_id=ticket.tenant_id, ticket_id=ticket.id, rater_id=actor.member_id, scores={}, score=score
        )
        session.add(rating)
    else:
        old = {"scores": rating.scores, "score": rating.score, "comment": rating.comment}
        rating.updated_at = utcnow()
    rating.scores = {str(k): v for k, v in clean.items()}
    rating.score = score
    rating.comment = comment.strip()
    session.flush()
    ticket.rating_score = session.scalar(select(func.avg(Rating.score)).where(Rating.ticket_id == ticket.id))
    record(
        session,
        ticket,
        actor_id=actor.member_id,
        kind=HistoryKind.RATED,
        field="rating",
        old=old,
        new={"scores": rating.scores, "score": score, "comment": rating.comment},
    )
    emit_event(
        session,
        tenant_id=ticket.tenant_id,
        kind="ticket.rated",
        ticket_id=ticket.id,
        actor_id=actor.member_id,
        payload={"score": score},
    )
    session.flush()
    return rating


_MY_RATING = select(Rating).where(
    Rating.ticket_id == bindparam("ticket_id"), Rating.rater_id == bindparam("rater_id")
)


def get_my_rating(session: Session, actor: Actor, ticket: Ticket) -> Rating | None:
    return session.scalar(_MY_RATING, {"ticket_id": ticket.id, "rater_id": actor.member_id})


@dataclass(frozen=True)
class ExecutorRating:
    average: float | None
    rated_tickets: int


def executor_rating(session: Session, member_id: int) -> ExecutorRating:
    """Mean of the scores of the tickets the member executed (each executor gets the ticket's score)."""
    row = session.execute(
        select(func.avg(Ticket.rating_score), func.count(Ticket.id))
        .join(TicketExecutor, TicketExecutor.ticket_id == Ticket.id)
        .where(
            TicketExecutor.member_id == member_id,
            Ticket.rating_score.is_not(None),
            Ticket.deleted_at.is_(None),
        )
    ).one()
    average, count = row
    return ExecutorRating(
        average=round(float(average), 2) if average is not None else None, rated_tickets=int(count)
    )
