"""``/q/{token}``: the link a printed QR code encodes — opens ticket creation with the template."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from fixflow.accounts.service import resolve_session
from fixflow.core.db import Database
from fixflow.core.errors import Unauthenticated
from fixflow.objects.qr import is_token_shaped

SESSION_COOKIE = "fixflow_session"  # the customer app's session cookie (fixflow.webapp)
CREATE_URL = "/app/tickets/new"
LOGIN_URL = "/app/login"

router = APIRouter(include_in_schema=False)


def _signed_in(request: Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    db: Database = request.app.state.db
    try:
        with db.session() as session:
            resolve_session(session, token)
    except Unauthenticated:
        return False
    return True


@router.get("/q/{token}")
def open_qr(token: str, request: Request) -> RedirectResponse:
    """303 to the create screen; not signed in → the login screen, which comes back here after.

    The token is checked (visibility, revocation) by the create screen, which can explain a
    problem in the app's own words; here a malformed token only stops being echoed back.
    """
    target = f"{CREATE_URL}?qr={quote(token, safe='')}" if is_token_shaped(token) else CREATE_URL
    if not _signed_in(request):
        target = f"{LOGIN_URL}?next={quote(target, safe='')}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
