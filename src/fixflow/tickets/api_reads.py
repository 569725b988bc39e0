"""The hottest ticket reads — list, tab counters, profile — on a router of their own.

No router-level dependencies: FastAPI resolving even one (the unknown-query check) cost ≈ 0.1 ms of a
≈ 1 ms list request, so each endpoint runs the same check itself. Matched before the other ticket
routes (``fixflow.app.feature_routers``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.core.errors import ValidationFailed
from fixflow.core.http import JSONResponse, parse_query, query_parameters, reject_unknown_query, run_reader
from fixflow.tickets import schemas
from fixflow.tickets.api import card_json, ticket_payload
from fixflow.tickets.detail import load_ticket_profile
from fixflow.tickets.listing import COUNT_CAP, TicketFilters, count_views, list_tickets

ROUTE_ORDER = -1  # the hottest of all: see fixflow.app.feature_routers
router = APIRouter(prefix="/tickets", tags=["tickets"])
_PAGING = {"view", "limit", "cursor"}  # the rest of the list's query are its filters


@router.get("", response_model=schemas.TicketPage, openapi_extra=query_parameters(schemas.TicketListQuery))
async def list_tickets_endpoint(request: Request) -> Response:
    """Additional-field filters: ``f.<code>=v``, ``f.<code>__gte=``/``__lte=``, ``f.<code>__in=a,b``."""
    await reject_unknown_query(request)
    query = parse_query(request, schemas.TicketListQuery, skip_prefix="f.")
    for name in ("created_from", "created_to"):
        value = getattr(query, name)
        if value is not None and value.tzinfo is None:
            raise ValidationFailed("{name} needs a timezone offset", name=name)
    field_filters = {k: v for k, v in request.query_params.items() if k.startswith("f.")}
    filters = TicketFilters(**query.model_dump(exclude=_PAGING), field_filters=field_filters)
    view, limit, cursor = query.view, query.limit, query.cursor

    def page_json(session: Session, actor: Actor) -> Response:
        page = list_tickets(session, actor, view, filters, limit=limit, cursor=cursor)
        items = [card_json(c, staff=actor.is_staff) for c in page.items]
        return JSONResponse({"items": items, "next_cursor": page.next_cursor})

    return await run_reader(request, page_json)


@router.get("/counts", response_model=schemas.CountsOut)
async def ticket_counts(request: Request) -> Response:
    await reject_unknown_query(request)

    def counts_json(session: Session, actor: Actor) -> Response:
        return JSONResponse({**count_views(session, actor), "cap": COUNT_CAP})

    return await run_reader(request, counts_json)


@router.get("/{ticket_id}", response_model=schemas.TicketOut)
async def get_ticket(request: Request, ticket_id: int) -> Response:
    await reject_unknown_query(request)

    def profile_json(session: Session, actor: Actor) -> Response:
        return JSONResponse(ticket_payload(session, actor, load_ticket_profile(session, actor, ticket_id)))

    return await run_reader(request, profile_json)
