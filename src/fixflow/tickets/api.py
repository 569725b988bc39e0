"""REST endpoints for tickets: thin — parse, call one service, render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.catalogs.refs import Ref
from fixflow.core.errors import ValidationFailed
from fixflow.core.http import (
    CurrentActor,
    DbSession,
    JSONResponse,
    reject_unknown_query,
)
from fixflow.core.idempotency import create_once
from fixflow.core.schemas import RefOut
from fixflow.ratings.service import active_criteria, get_my_rating, may_rate, rate_ticket
from fixflow.tenants.models import Tenant
from fixflow.tickets import schemas
from fixflow.tickets.detail import TicketDetail, ticket_detail
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.listing import (
    TicketCard,
    is_overdue,
)
from fixflow.tickets.models import Ticket, TicketHistory, TicketWork
from fixflow.tickets.service import (
    TicketDraft,
    add_favorite,
    create_ticket,
    delete_ticket,
    get_ticket_for_actor,
    remove_favorite,
    update_ticket,
)
from fixflow.tickets.transitions import (
    OfferedTransition,
    available_transitions_for,
    move_ticket_to_stage,
    transition_ticket,
)
from fixflow.tickets.works import WorkDraft, add_work, list_works
from fixflow.workflow.service import statuses_of

ROUTE_ORDER = 0  # hot: see fixflow.app.feature_routers
router = APIRouter(prefix="/tickets", tags=["tickets"], dependencies=[Depends(reject_unknown_query)])


def _transitions_out(
    session: Session, actor: Actor, offered: list[OfferedTransition]
) -> list[schemas.TransitionOut]:
    statuses = statuses_of(session, actor.tenant_id)
    return [
        schemas.TransitionOut(
            id=t.id,
            label=t.label,
            to_status=(
                RefOut(
                    id=t.to_status_id,
                    name=statuses[t.to_status_id].name,
                    color=statuses[t.to_status_id].color,
                )
                if t.to_status_id in statuses
                else None
            ),
            requires_comment=t.requires_comment,
        )
        for t in offered
    ]


def ticket_payload(session: Session, actor: Actor, detail: TicketDetail) -> dict[str, Any]:
    t = detail.ticket
    out = schemas.TicketOut(
        id=t.id,
        number=t.number,
        version=t.version,
        status=RefOut.model_validate(detail.status),
        stage=RefOut.model_validate(detail.stage) if detail.stage else None,
        type=RefOut.model_validate(detail.type),
        work_type=RefOut.model_validate(detail.work_type) if detail.work_type else None,
        criticality=RefOut.model_validate(detail.criticality) if detail.criticality else None,
        object=RefOut.model_validate(detail.object),
        object_path=detail.object_path,
        address=t.address,
        description=t.description,
        initiator=schemas.PersonOut.model_validate(detail.initiator),
        executors=[schemas.PersonOut.model_validate(p) for p in detail.executors],
        approver_member=schemas.PersonOut.model_validate(detail.approver_member)
        if detail.approver_member
        else None,
        approver_role=RefOut.model_validate(detail.approver_role) if detail.approver_role else None,
        deadline=t.deadline,
        created_at=t.created_at,
        updated_at=t.updated_at,
        completed_at=t.completed_at,
        closed_at=t.closed_at,
        source=t.source,
        is_favorite=detail.is_favorite,
        can_rate=detail.can_rate,
        my_rating=detail.my_rating,
        rating_score=t.rating_score,
        transitions=_transitions_out(session, actor, detail.transitions),
        timeline=[
            schemas.TimelineOut(at=e.at, status=RefOut.model_validate(e.status)) for e in detail.timeline
        ],
        fields=EXTENSIONS.fields.api_values(session, actor, t),
        is_overdue=is_overdue(t),
        deleted=t.deleted_at is not None,
    )
    # Customers see the status only, never the stage: the key is absent, not null.
    return out.model_dump(mode="json", exclude=None if actor.is_staff else {"stage"})


def _ref(ref: Ref | None) -> dict[str, Any] | None:
    return None if ref is None else {"id": ref.id, "name": ref.name, "color": ref.color}


def card_json(card: TicketCard, *, staff: bool) -> dict[str, Any]:
    """A card as ``schemas.TicketCardOut`` documents it, built directly: lists are the hottest path.

    Customers see the status only, never the stage: the key is absent, not null. Datetimes are left
    to orjson (UTC with ``Z``, as pydantic writes them); ``test_card_json_matches_the_schema`` keeps
    the two in step.
    """
    out: dict[str, Any] = {
        "id": card.id,
        "number": card.number,
        "status": _ref(card.status),
        "object": {"id": card.object.id, "name": card.object.name, "color": card.object.color},
        "object_path": card.object_path,
        "description": card.description,
        "criticality": _ref(card.criticality),
        "type": _ref(card.type),
        "created_at": card.created_at,
        "closed_at": card.closed_at,
        "deadline": card.deadline,
        "is_favorite": card.is_favorite,
        "is_overdue": card.is_overdue,
        "version": card.version,
    }
    if staff:
        out["stage"] = _ref(card.stage)
    return out


def ticket_response(session: Session, actor: Actor, ticket: Ticket, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        ticket_payload(session, actor, ticket_detail(session, actor, ticket)), status_code=status_code
    )


@router.post("", response_model=schemas.TicketOut, status_code=201)
def create_ticket_endpoint(
    request: Request,
    body: schemas.TicketCreate,
    session: DbSession,
    actor: CurrentActor,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    def create() -> dict[str, Any]:
        draft = TicketDraft(
            type_id=body.type_id,
            object_id=body.object_id,
            description=body.description,
            work_type_id=body.work_type_id,
            criticality_id=body.criticality_id,
            initiator_id=body.initiator_id,
            source="api",
            fields=body.fields,
        )
        ticket = create_ticket(session, actor, draft)
        return ticket_payload(session, actor, ticket_detail(session, actor, ticket))

    status, payload = create_once(
        session, actor, idempotency_key, path="/tickets", body=body.model_dump(mode="json"), create=create
    )
    return JSONResponse(payload, status_code=status)


@router.patch("/{ticket_id}", response_model=schemas.TicketOut)
def patch_ticket(
    ticket_id: int, body: schemas.TicketUpdate, session: DbSession, actor: CurrentActor
) -> Response:
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    update_ticket(session, actor, ticket, version=body.version, changes=changes)
    return ticket_response(session, actor, ticket)


@router.delete("/{ticket_id}", status_code=204)
def delete_ticket_endpoint(ticket_id: int, session: DbSession, actor: CurrentActor) -> Response:
    delete_ticket(session, actor, get_ticket_for_actor(session, actor, ticket_id, for_update=True))
    return Response(status_code=204)


@router.get("/{ticket_id}/transitions", response_model=list[schemas.TransitionOut])
def get_transitions(ticket_id: int, session: DbSession, actor: CurrentActor) -> Response:
    ticket = get_ticket_for_actor(session, actor, ticket_id)
    offered = _transitions_out(session, actor, available_transitions_for(session, actor, ticket))
    return JSONResponse([t.model_dump(mode="json") for t in offered])


@router.post("/{ticket_id}/transitions", response_model=schemas.TicketOut)
def post_transition(
    ticket_id: int, body: schemas.TransitionRequest, session: DbSession, actor: CurrentActor
) -> Response:
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    if (body.transition_id is None) == (body.stage_id is None):
        raise ValidationFailed("Give either transition_id or stage_id")
    if body.transition_id is not None:
        transition_ticket(
            session,
            actor,
            ticket,
            transition_id=body.transition_id,
            version=body.version,
            comment=body.comment,
        )
    else:
        assert body.stage_id is not None
        move_ticket_to_stage(
            session, actor, ticket, stage_id=body.stage_id, version=body.version, comment=body.comment
        )
    return ticket_response(session, actor, ticket)


def tenant_currency(session: Session, tenant_id: int) -> str:
    tenant = session.get(Tenant, tenant_id)
    return tenant.currency if tenant else "RUB"


def _work_out(work: TicketWork, currency: str) -> schemas.WorkOut:
    return schemas.WorkOut.model_validate(
        {**{c: getattr(work, c) for c in schemas.WORK_COLUMNS}, "currency": currency}
    )


@router.get("/{ticket_id}/works", response_model=list[schemas.WorkOut])
def get_works(ticket_id: int, session: DbSession, actor: CurrentActor) -> list[schemas.WorkOut]:
    ticket = get_ticket_for_actor(session, actor, ticket_id)
    currency = tenant_currency(session, actor.tenant_id)
    return [_work_out(w, currency) for w in list_works(session, ticket)]


@router.post("/{ticket_id}/works", response_model=schemas.WorkOut, status_code=201)
def post_work(
    ticket_id: int, body: schemas.WorkCreate, session: DbSession, actor: CurrentActor
) -> schemas.WorkOut:
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    work = add_work(session, actor, ticket, WorkDraft(**body.model_dump()))
    return _work_out(work, tenant_currency(session, actor.tenant_id))


@router.put("/{ticket_id}/favorite", status_code=204)
def put_favorite(ticket_id: int, session: DbSession, actor: CurrentActor) -> Response:
    add_favorite(session, actor, get_ticket_for_actor(session, actor, ticket_id))
    return Response(status_code=204)


@router.delete("/{ticket_id}/favorite", status_code=204)
def delete_favorite(ticket_id: int, session: DbSession, actor: CurrentActor) -> Response:
    remove_favorite(session, actor, get_ticket_for_actor(session, actor, ticket_id))
    return Response(status_code=204)


def _rating_out(session: Session, actor: Actor, ticket: Ticket) -> schemas.RatingOut:
    rating = get_my_rating(session, actor, ticket)
    return schemas.RatingOut(
        scores=rating.scores if rating else None,
        score=rating.score if rating else None,
        comment=rating.comment if rating else "",
        can_rate=may_rate(session, actor, ticket),
        criteria=[RefOut(id=c.id, name=c.name) for c in active_criteria(session, ticket.tenant_id)],
    )


@router.get("/{ticket_id}/rating", response_model=schemas.RatingOut)
def get_rating(ticket_id: int, session: DbSession, actor: CurrentActor) -> schemas.RatingOut:
    return _rating_out(session, actor, get_ticket_for_actor(session, actor, ticket_id))


@router.put("/{ticket_id}/rating", response_model=schemas.RatingOut)
def put_rating(
    ticket_id: int, body: schemas.RatingPut, session: DbSession, actor: CurrentActor
) -> schemas.RatingOut:
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    rate_ticket(session, actor, ticket, scores=body.scores, comment=body.comment)
    return _rating_out(session, actor, ticket)


@router.get("/{ticket_id}/history", response_model=list[schemas.HistoryOut])
def get_history(ticket_id: int, session: DbSession, actor: CurrentActor) -> list[schemas.HistoryOut]:
    ticket = get_ticket_for_actor(session, actor, ticket_id)
    rows = session.scalars(
        select(TicketHistory).where(TicketHistory.ticket_id == ticket.id).order_by(TicketHistory.id)
    ).all()
    if not actor.is_staff:
        # Customers see the status, never the stage: stage moves are internal.
        rows = [r for r in rows if r.kind != "stage_changed"]
    # Changes of additional fields only while the actor may see the field at the ticket's stage.
    shown = EXTENSIONS.fields.api_values(session, actor, ticket)
    rows = [r for r in rows if not (name := r.field or "").startswith("fields.") or name[7:] in shown]
    return [schemas.HistoryOut.model_validate(r) for r in rows]
