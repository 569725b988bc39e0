"""App routes of the live feature: the cookie-authenticated event stream, the service worker and the
offline page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse

from fixflow.core.errors import Unauthenticated
from fixflow.core.i18n import choose_locale
from fixflow.live.pwa import OFFLINE_TEXTS, render_offline_page, service_worker_source
from fixflow.live.sse import event_stream_response, live_lifespan

#: The customer app's session cookie (set by the app's login, ``fixflow.webapp``).
SESSION_COOKIE = "fixflow_session"

router = APIRouter(lifespan=live_lifespan, include_in_schema=False)


@router.get("/app/events")
async def app_events(request: Request) -> EventSourceResponse:
    """The same stream as ``/api/v1/events``, authenticated by the app's session cookie.

    Read-only, so no CSRF token: a cross-site page cannot read the stream (no CORS), and opening
    one changes nothing.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("Please log in")
    return await event_stream_response(request, token)


@router.get("/app/sw.js")
def service_worker() -> Response:
    return Response(
        service_worker_source(),
        media_type="text/javascript",
        # The browser checks for a new worker on navigation; never let a cache hide an update.
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app/"},
    )


@router.get("/app/offline")
def offline_page(request: Request, action: int = 0, lang: str = "") -> HTMLResponse:
    """What the service worker shows when the network is gone and nothing is cached (or, with
    ``action=1``, when a form was sent while offline). The worker keeps one per language (``lang``)
    and shows the one of the last page it stored: the language the member reads the app in now."""
    locale = (
        lang
        if lang in OFFLINE_TEXTS
        else choose_locale(
            member_locale=None,
            cookie=request.cookies.get("lang"),
            accept_language=request.headers.get("accept-language"),
        )
    )
    html = render_offline_page(locale, failed_action=bool(action))
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
