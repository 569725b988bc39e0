"""``GET /api/v1/events``: live ticket changes for API clients (``Authorization: Bearer``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from fixflow.core.errors import Unauthenticated
from fixflow.core.http import bearer_token, reject_unknown_query
from fixflow.live.sse import event_stream_response

router = APIRouter(tags=["live"], dependencies=[Depends(reject_unknown_query)])


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def live_events(request: Request) -> EventSourceResponse:
    """Server-sent events for every change of a ticket the caller may see.

    ``event: ticket`` carries ``{"ticket_id", "kind", "event_id"}`` — re-read the ticket to see the
    change; ``event: resync`` means events may have been missed: re-read everything shown.
    """
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Please log in")
    return await event_stream_response(request, token)
