"""Files of the customer app: attachments behind the cookie session (the API wants a Bearer token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from fixflow.attachments.api import file_response
from fixflow.attachments.service import get_attachment_for_actor
from fixflow.webapp.compose import storage
from fixflow.webapp.web import UserWeb, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/app/files/{attachment_id:int}")
def download(web: UserWeb, attachment_id: int) -> Response:
    """Same visibility as the API: a file of a ticket the member cannot see answers 404."""
    attachment = get_attachment_for_actor(web.session, web.actor, attachment_id)
    return file_response(storage(web.settings), attachment)
