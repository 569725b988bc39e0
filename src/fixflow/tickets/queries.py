"""The one place that decides which tickets an actor may see, and the list views built on it.

Every read path — lists, counters, detail, search, history, live updates — goes through
:func:`visible_tickets_predicate`. Nothing filters by tenant by hand anywhere else.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import MemberCompany
from fixflow.accounts.permissions import Permission, Scope
from fixflow.core.configcache import config_cached
from fixflow.tickets.models import Favorite, Ticket, TicketExecutor
from fixflow.workflow.models import Stage, Transition


class TicketView(enum.StrEnum):
    MINE = "mine"
    APPROVAL = "approval"
    ALL = "all"
    FAVORITES = "favorites"
    ARCHIVE = "archive"


def _is_approver(actor: Actor) -> ColumnElement[bool]:
    by_member = Ticket.approver_member_id == actor.member_id
    if not actor.role_ids:
        return by_member
    return or_(by_member, Ticket.approver_role_id.in_(actor.role_ids))


def _is_assigned(actor: Actor) -> ColumnElement[bool]:
    return exists().where(TicketExecutor.ticket_id == Ticket.id, TicketExecutor.member_id == actor.member_id)


def _colleagues(actor: Actor) -> Any:
    """Members of the actor's companies: a literal list when the actor carries one (see Actor)."""
    if actor.colleague_ids is not None:
        return sorted(actor.colleague_ids)
    return select(MemberCompany.member_id).where(MemberCompany.company_id.in_(actor.company_ids))


def _unassigned_new() -> ColumnElement[bool]:
    start_stages = select(Stage.id).where(Stage.is_start.is_(True))
    return and_(~exists().where(TicketExecutor.ticket_id == Ticket.id), Ticket.stage_id.in_(start_stages))


def scope_branches(actor: Actor) -> list[ColumnElement[bool]] | None:
    """The actor's ticket scopes as separate terms, each one an index can serve; None means all tickets.

    A ticket is visible when it matches any branch (and :func:`tenant_conditions`). Lists may run the
    branches as separate index scans and merge them (see ``tickets.listing``); everything else ORs them.
    """
    if actor.has_scope(Scope.ALL):
        return None
    branches: list[ColumnElement[bool]] = []
    if actor.has_scope(Scope.OWN):
        branches.append(Ticket.initiator_id == actor.member_id)
    if actor.has_scope(Scope.APPROVAL):
        branches.append(Ticket.approver_member_id == actor.member_id)
        if actor.role_ids:
            branches.append(Ticket.approver_role_id.in_(sorted(actor.role_ids)))
    if actor.has_scope(Scope.COMPANY) and actor.company_ids:
        branches.append(Ticket.company_id.in_(sorted(actor.company_ids)))
        branches.append(Ticket.initiator_id.in_(_colleagues(actor)))
    if actor.has_scope(Scope.ASSIGNED):
        branches.append(_is_assigned(actor))
    if actor.has_scope(Scope.UNASSIGNED_NEW):
        branches.append(_unassigned_new())
    return branches


def tenant_conditions(actor: Actor) -> list[ColumnElement[bool]]:
    """Tenant isolation and soft deletion, the part of visibility every branch shares."""
    conditions: list[ColumnElement[bool]] = [Ticket.tenant_id == actor.tenant_id]
    if not actor.can(Permission.TICKET_VIEW_DELETED):
        conditions.append(Ticket.deleted_at.is_(None))
    return conditions


def visible_tickets_predicate(actor: Actor) -> ColumnElement[bool]:
    """Tenant isolation, soft deletion and the union of the actor's ticket scopes."""
    branches = scope_branches(actor)
    scope = true() if branches is None else (or_(*branches) if branches else false())
    return and_(*tenant_conditions(actor), scope)


def visible_tickets(actor: Actor) -> Select[Ticket]:
    return select(Ticket).where(visible_tickets_predicate(actor))


def approval_stage_ids(session: Session, actor: Actor) -> list[int]:
    """Stages of the actor's tenant where an approval transition could admit the actor's roles."""
    rules = config_cached(
        session, actor.tenant_id, "approval_transitions", lambda: _approval_rules(session, actor)
    )
    return sorted({stage_id for stage_id, roles in rules if not roles or roles & actor.role_codes})


def _approval_rules(session: Session, actor: Actor) -> tuple[tuple[int, frozenset[str]], ...]:
    rows = session.execute(
        select(Transition.from_stage_id, Transition.roles).where(
            Transition.tenant_id == actor.tenant_id, Transition.branch == "approval"
        )
    ).all()
    return tuple((r.from_stage_id, frozenset(r.roles or ())) for r in rows)


def view_predicate(session: Session, actor: Actor, view: TicketView) -> ColumnElement[bool]:
    match view:
        case TicketView.MINE:
            return and_(Ticket.initiator_id == actor.member_id, Ticket.closed_at.is_(None))
        case TicketView.APPROVAL:
            stage_ids = approval_stage_ids(session, actor)
            if not stage_ids:
                return false()
            return and_(_is_approver(actor), Ticket.stage_id.in_(stage_ids), Ticket.closed_at.is_(None))
        case TicketView.ALL:
            return Ticket.closed_at.is_(None)
        case TicketView.FAVORITES:
            # Driven from the member's favourites (their index), not by probing every visible ticket.
            return Ticket.id.in_(select(Favorite.ticket_id).where(Favorite.member_id == actor.member_id))
        case TicketView.ARCHIVE:
            return Ticket.closed_at.is_not(None)
    raise ValueError(view)
