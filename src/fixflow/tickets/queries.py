"""The one place that decides which tickets an actor may see, and the list views built on it.

Every read path — lists, counters, detail, search, history, live updates — goes through
:func:`visible_tickets_predicate`, or for the hottest ones through the same builder in its shape and
parameters form (:func:`visibility_of`, :func:`branches_of`). Nothing filters by tenant by hand anywhere else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, false, or_, select, true
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


# Visibility is built from a *shape* (which terms exist: scopes, permissions, empty lists) and *params*
# (the ids), and every id enters the SQL as a named bind parameter. Two actors of one shape therefore get
# the same statement with different parameters, so hot read paths can build a statement once per shape
# and execute it with each actor's params (``tickets.listing``). Builders below must take ids from
# ``params`` only, through ``_param``; structure may depend on the shape only.


@dataclass(frozen=True)
class VisibilityShape:
    all_tickets: bool
    own: bool
    approval: bool
    by_role: bool  # approval by one of the actor's roles (the actor has roles)
    # ... only for tickets of the actor's companies: a customer role is shared by the customers of
    # every company, and awaiting it must not open one company's ticket to another's customers.
    role_approval_in_companies: bool
    company: bool  # company scope with at least one company
    # The actor is among the listed colleagues (always, as members of their own companies): their own
    # tickets are then a part of the colleagues branch and need no index scan of their own.
    own_among_colleagues: bool
    one_company: bool  # exactly one: an equality, so a generic plan walks its index in list order
    colleagues_listed: bool  # colleagues as an id list (else a subquery on member_companies)
    assigned: bool
    unassigned_new: bool
    hide_deleted: bool


def visibility_shape(actor: Actor) -> VisibilityShape:
    everything = actor.has_scope(Scope.ALL)
    company = actor.has_scope(Scope.COMPANY) and bool(actor.company_ids)
    return VisibilityShape(
        all_tickets=everything,
        own=not everything and actor.has_scope(Scope.OWN),
        approval=not everything and actor.has_scope(Scope.APPROVAL),
        by_role=bool(actor.role_ids) and (actor.is_staff or bool(actor.company_ids)),
        role_approval_in_companies=not actor.is_staff,
        company=not everything and company,
        own_among_colleagues=(
            not everything and company and actor.member_id in (actor.colleague_ids or frozenset())
        ),
        one_company=len(actor.company_ids) == 1,
        colleagues_listed=actor.colleague_ids is not None,
        assigned=not everything and actor.has_scope(Scope.ASSIGNED),
        unassigned_new=not everything and actor.has_scope(Scope.UNASSIGNED_NEW),
        hide_deleted=not actor.can(Permission.TICKET_VIEW_DELETED),
    )


def visibility_params(actor: Actor) -> dict[str, Any]:
    return {
        "v_tenant": actor.tenant_id,
        "v_me": actor.member_id,
        "v_roles": sorted(actor.role_ids),
        "v_companies": sorted(actor.company_ids),
        "v_company": min(actor.company_ids, default=None),
        "v_colleagues": sorted(actor.colleague_ids or ()),
    }


# Statements by shape: building one and computing its cache key costs more than running it, and
# actors of one shape differ only in parameters. Shapes are few; the bound keeps a pathological mix of
# filters from growing the dict without limit.
_STATEMENTS: dict[Hashable, Any] = {}
_MAX_STATEMENTS = 2048


def shaped_statement(key: Hashable, build: Callable[[], Any]) -> Any:
    """The statement for ``key``, built once; run it with the parameters of whoever asks."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if len(_STATEMENTS) >= _MAX_STATEMENTS:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[key] = build()
    return stmt


def _param(params: dict[str, Any], name: str, *, expanding: bool = False) -> Any:
    return bindparam(name, params[name], expanding=expanding)


def _is_assigned(params: dict[str, Any]) -> ColumnElement[bool]:
    return exists().where(
        TicketExecutor.ticket_id == Ticket.id, TicketExecutor.member_id == _param(params, "v_me")
    )


def _colleagues(shape: VisibilityShape, params: dict[str, Any]) -> Any:
    """Members of the actor's companies: a literal list when the actor carries one (see Actor)."""
    if shape.colleagues_listed:
        return _param(params, "v_colleagues", expanding=True)
    companies = _param(params, "v_companies", expanding=True)
    return select(MemberCompany.member_id).where(MemberCompany.company_id.in_(companies))


def _unassigned_new() -> ColumnElement[bool]:
    start_stages = select(Stage.id).where(Stage.is_start.is_(True))
    return and_(~exists().where(TicketExecutor.ticket_id == Ticket.id), Ticket.stage_id.in_(start_stages))


def _approver_terms(shape: VisibilityShape, params: dict[str, Any]) -> list[ColumnElement[bool]]:
    terms = [_approver_member(params)]
    if shape.by_role:
        terms.append(_approver_role(shape, params))
    return terms


def _approver_member(params: dict[str, Any]) -> ColumnElement[bool]:
    named: ColumnElement[bool] = Ticket.approver_member_id == _param(params, "v_me")
    return named


def _approver_role(shape: VisibilityShape, params: dict[str, Any]) -> ColumnElement[bool]:
    by_role: ColumnElement[bool] = Ticket.approver_role_id.in_(_param(params, "v_roles", expanding=True))
    if shape.role_approval_in_companies:  # see workflow.engine.is_awaited_approver
        by_role = and_(by_role, _of_my_companies(shape, params))
    return by_role


def _own(params: dict[str, Any]) -> ColumnElement[bool]:
    mine: ColumnElement[bool] = Ticket.initiator_id == _param(params, "v_me")
    return mine


def _of_my_companies(shape: VisibilityShape, params: dict[str, Any]) -> ColumnElement[bool]:
    if shape.one_company:
        # `= ANY($1)` of one id is still a list to a generic plan, which then sorts the company's
        # open tickets; an equality reads them in index order (ix_tickets_company_open_ids).
        one: ColumnElement[bool] = Ticket.company_id == _param(params, "v_company")
        return one
    return Ticket.company_id.in_(_param(params, "v_companies", expanding=True))


def branches_of(shape: VisibilityShape, params: dict[str, Any]) -> list[ColumnElement[bool]] | None:
    """The scopes as separate terms, each one an index can serve; None means all tickets.

    A term another one contains is left out (each is an index scan per list or counter): the actor's
    own tickets when they are among their colleagues, and awaited roles limited to the actor's
    companies when the company term is there — a customer admin's lists scan three branches, not five.
    """
    if shape.all_tickets:
        return None
    branches: list[ColumnElement[bool]] = []
    if shape.own and not (shape.company and shape.own_among_colleagues):
        branches.append(_own(params))
    if shape.approval:
        branches.append(_approver_member(params))
        if shape.by_role and not (shape.company and shape.role_approval_in_companies):
            branches.append(_approver_role(shape, params))
    if shape.company:
        branches.append(_of_my_companies(shape, params))
        branches.append(Ticket.initiator_id.in_(_colleagues(shape, params)))
    if shape.assigned:
        branches.append(_is_assigned(params))
    if shape.unassigned_new:
        branches.append(_unassigned_new())
    return branches


def view_branches(
    view: TicketView, shape: VisibilityShape, params: dict[str, Any]
) -> list[ColumnElement[bool]] | None:
    """The branches of :func:`branches_of` that a view's tickets can come from.

    Exactly the same tickets, fewer index scans: a ticket of the approval view awaits the actor or one
    of their roles, so of the visible ones it is in an approval branch whatever other branch it is in
    too; one of «Мои» is the actor's own. Only when the actor has that scope, of course — else such a
    ticket is visible, if at all, through the other branches.
    """
    branches = branches_of(shape, params)
    if branches is None:
        return None
    if view is TicketView.APPROVAL and shape.approval:
        return _approver_terms(shape, params)
    if view is TicketView.MINE and shape.own:
        return [_own(params)]
    return branches


def tenant_terms(shape: VisibilityShape, params: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Tenant isolation and soft deletion, the part of visibility every branch shares."""
    conditions: list[ColumnElement[bool]] = [Ticket.tenant_id == _param(params, "v_tenant")]
    if shape.hide_deleted:
        conditions.append(Ticket.deleted_at.is_(None))
    return conditions


def visibility_of(shape: VisibilityShape, params: dict[str, Any]) -> ColumnElement[bool]:
    branches = branches_of(shape, params)
    scope = true() if branches is None else (or_(*branches) if branches else false())
    return and_(*tenant_terms(shape, params), scope)


def visible_tickets_predicate(actor: Actor) -> ColumnElement[bool]:
    """Tenant isolation, soft deletion and the union of the actor's ticket scopes."""
    return visibility_of(visibility_shape(actor), visibility_params(actor))


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


def view_params(session: Session, actor: Actor, view: TicketView) -> dict[str, Any]:
    """What a view adds to :func:`visibility_params` (the approval stages of the actor's roles)."""
    return {"v_approval_stages": approval_stage_ids(session, actor)} if view is TicketView.APPROVAL else {}


def approval_possible(params: dict[str, Any]) -> bool:
    """Part of a view's shape: without approval stages the approval view is empty by construction."""
    return bool(params.get("v_approval_stages"))


def favorites_of_everyone(shape: VisibilityShape, params: dict[str, Any]) -> Select[int]:
    """The favourite tickets of an actor who sees all the tenant's tickets, as ids, driven by the favourites.

    The same tickets as :func:`visibility_of` and the favourites view for the ``all_tickets`` shape:
    the actor's favourites of the tenant, less those of deleted tickets when deleted ones are hidden —
    read from the favourites' index alone (``Favorite.ticket_deleted``). Checking a dispatcher's 526
    favourites one by one against the deleted tickets was half of their counters' statement (0.5 ms).
    """
    if not shape.all_tickets:
        raise ValueError("only for a shape that sees every ticket of the tenant")
    ids = select(Favorite.ticket_id).where(
        Favorite.member_id == _param(params, "v_me"), Favorite.tenant_id == _param(params, "v_tenant")
    )
    if shape.hide_deleted:
        ids = ids.where(Favorite.ticket_deleted.is_(False))
    return ids


def branch_view_term(view: TicketView, shape: VisibilityShape, params: dict[str, Any]) -> ColumnElement[bool]:
    """:func:`view_term` for a branch of :func:`view_branches`, which may already imply part of it.

    An approval view's branches are its approver terms: repeating them as an OR beside each branch
    made PostgreSQL combine indexes for the OR and read a customer admin's company (148 rows, 0.46 ms)
    to count their approval badge.
    """
    if view is TicketView.APPROVAL and shape.approval:
        if not approval_possible(params):
            return false()
        stages = _param(params, "v_approval_stages", expanding=True)
        return and_(Ticket.stage_id.in_(stages), Ticket.closed_at.is_(None))
    return view_term(view, shape, params)


def view_term(view: TicketView, shape: VisibilityShape, params: dict[str, Any]) -> ColumnElement[bool]:
    match view:
        case TicketView.MINE:
            return and_(Ticket.initiator_id == _param(params, "v_me"), Ticket.closed_at.is_(None))
        case TicketView.APPROVAL:
            if not approval_possible(params):
                return false()
            stages = _param(params, "v_approval_stages", expanding=True)
            approver = or_(*_approver_terms(shape, params))
            return and_(approver, Ticket.stage_id.in_(stages), Ticket.closed_at.is_(None))
        case TicketView.ALL:
            return Ticket.closed_at.is_(None)
        case TicketView.FAVORITES:
            # Driven from the member's favourites (their index), not by probing every visible ticket.
            mine = select(Favorite.ticket_id).where(Favorite.member_id == _param(params, "v_me"))
            return Ticket.id.in_(mine)
        case TicketView.ARCHIVE:
            return Ticket.closed_at.is_not(None)
    raise ValueError(view)
