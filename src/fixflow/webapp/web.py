"""Per-request plumbing of the customer app: cookie sessions, CSRF, locale, rendering, HTML errors.

Pages use three dependencies: :data:`AnyWeb` (signed in or not), :data:`UserWeb` (signed in, else a
redirect to the login screen) and :data:`CheckedForm` (the posted form after the CSRF check).
Routers use :class:`WebRoute`, which turns domain errors into HTML pages instead of problem JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.routing import Route

from fixflow.accounts.actor import Actor
from fixflow.accounts.service import Authenticated, resolve_session
from fixflow.attachments.service import too_large
from fixflow.config import Settings
from fixflow.core import pageshell
from fixflow.core.errors import (
    DomainError,
    Forbidden,
    NotFound,
    Throttled,
    Unauthenticated,
    ValidationFailed,
    VersionConflict,
)
from fixflow.core.http import DbSession, run_authenticated
from fixflow.core.i18n import choose_locale, get_translations, render_error
from fixflow.core.security import constant_time_equals, new_token
from fixflow.core.templating import palette_css, render_template
from fixflow.webapp.forms import FormErrors
from fixflow.webapp.headers import secure_headers
from fixflow.webapp.lookups import tenant_colors

SESSION_COOKIE = "fixflow_session"
LANG_COOKIE = "lang"
CSRF_COOKIE = "fixflow_csrf"
CSRF_FIELD = "csrf_token"
LOGIN_URL = "/app/login"
HOME_URL = "/app/tickets"
YEAR = 365 * 24 * 3600

T = TypeVar("T")


def csrf_input(token: str) -> Markup:
    """The hidden input every form posts its CSRF token in (a page's ``csrf_input``)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


class LoginRequired(Exception):
    """Raised by :func:`signed_in`; :class:`WebRoute` answers with a redirect to the login screen."""


class CsrfRejected(Forbidden):
    type_slug = "csrf"
    title = "The form has expired"


def safe_next(url: str | None, default: str = HOME_URL) -> str:
    """Only same-site app paths, so ``next=`` cannot become an open redirect."""
    if not url or not url.startswith("/app/") or url.startswith("//") or "\\" in url or "\n" in url:
        return default
    return url


@dataclass
class Web:
    """What a page needs to know about the request: who, which language, which tokens."""

    request: Request
    settings: Settings
    session: Session
    locale: str
    nonce: str
    timezone: str
    auth: Authenticated | None = None
    anon_csrf: str = ""
    set_anon_csrf: bool = False
    drop_session_cookie: bool = False
    cookies: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        if self.auth is None:
            raise LoginRequired
        return self.auth.actor

    @property
    def csrf_token(self) -> str:
        return self.auth.auth_session.csrf_token if self.auth else self.anon_csrf

    @property
    def secure_cookies(self) -> bool:
        return self.settings.base_url.startswith("https://")

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else ""

    # --- text -----------------------------------------------------------------------------------
    def gettext(self, message: str, **params: Any) -> str:
        text = str(get_translations(self.locale).gettext(message))
        return text.format(**params) if params else text

    def error_text(self, exc: DomainError) -> str:
        if isinstance(exc, VersionConflict):
            return self.gettext("The ticket has changed, refresh")
        return render_error(exc, self.locale)

    def form_errors(self, exc: DomainError, shown: Iterable[str]) -> FormErrors:
        """Field problems next to their fields; the rest (and the summary) at the top of the form."""
        visible = set(shown)
        fields: dict[str, str] = {}
        general: list[str] = []
        for problem in exc.errors:
            text = self.gettext(problem.message, **problem.params)
            if problem.field in visible:
                fields.setdefault(problem.field, text)
            else:
                general.append(text)
        summary = self.error_text(exc)
        if summary not in fields.values():  # e.g. «Укажите причину» is already next to its field
            general.insert(0, summary)
        return FormErrors(fields=fields, general=list(dict.fromkeys(general)))

    # --- responses ------------------------------------------------------------------------------
    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        self.cookies.append((name, value, max_age))

    def finish(self, response: Response) -> Response:
        secure_headers(response, self.nonce)
        if self.set_anon_csrf:
            response.set_cookie(
                CSRF_COOKIE, self.anon_csrf, httponly=True, samesite="lax", secure=self.secure_cookies
            )
        if self.drop_session_cookie:
            response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure_cookies)
        for name, value, max_age in self.cookies:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                httponly=True,
                samesite="lax",
                secure=self.secure_cookies,
            )
        return response

    def context(self, palette: bool = True) -> dict[str, Any]:
        """What every page template may read. Plain values only, never ``self`` nor the request: a
        template importing macros ``with context`` makes its context a reference cycle, and whatever
        it holds waits for the cycle collector (the request and its session did, for every page)."""
        colors = (
            tenant_colors(self.session, self.auth.actor.tenant_id) if palette and self.auth else frozenset()
        )
        return {
            "csrf_token": self.csrf_token,
            "csrf_field": CSRF_FIELD,
            "csrf_input": csrf_input(self.csrf_token),
            "nonce": self.nonce,
            "tz": self.timezone,
            "palette": palette_css(colors),
            "path": self.request.url.path,
            "full_path": current_path(self.request),
        }

    def render(
        self, template: str, *, status_code: int = 200, palette: bool = True, **context: Any
    ) -> Response:
        html = render_template(self.locale, template, {**self.context(palette), **context})
        return self.finish(HTMLResponse(html, status_code=status_code))

    def render_fragment(self, template: str, **context: Any) -> Markup:
        """A part of a page (no layout), for :meth:`render_shell`; reads ``tz`` and ``context``."""
        return Markup(render_template(self.locale, template, {"tz": self.timezone, **context}))  # noqa: S704

    def render_shell(
        self, template: str, *, fixed: dict[str, Hashable], slots: dict[str, str | Markup]
    ) -> Response:
        """A page rendered once per ``fixed`` values and filled with ``slots`` (``core.pageshell``).

        The template reads nothing else: not ``web`` nor ``actor``, so no shell holds anybody's own
        data. The palette and the CSP nonce are added here."""
        colors = tenant_colors(self.session, self.auth.actor.tenant_id) if self.auth else frozenset()
        html = pageshell.render_shell(
            self.locale,
            template,
            {"palette": palette_css(colors), **fixed},
            {"nonce": self.nonce, **slots},
        )
        return self.finish(HTMLResponse(html))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))


def current_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


# --- dependencies -------------------------------------------------------------------------------
def _resolve_cookie(session: Session, token: str | None) -> tuple[Authenticated | None, bool]:
    """The web session behind the cookie, and whether the cookie should be dropped."""
    if not token:
        return None, False
    try:
        found = resolve_session(session, token)
    except Unauthenticated:
        return None, True
    if not _opens_pages(found):
        return None, True
    return found, False


def _opens_pages(auth: Authenticated) -> bool:
    """Only web sessions sign pages in: API tokens carry no CSRF secret."""
    return auth.auth_session.kind == "web" and bool(auth.auth_session.csrf_token)


def web_context(request: Request, session: DbSession) -> Web:
    return _web(request, session)


def _web(request: Request, session: Session) -> Web:
    auth, drop = _resolve_cookie(session, request.cookies.get(SESSION_COOKIE))
    return _web_for(request, session, auth, drop=drop)


def _web_for(request: Request, session: Session, auth: Authenticated | None, *, drop: bool) -> Web:
    settings: Settings = request.app.state.settings
    timezone = auth.tenant_timezone if auth is not None else settings.default_timezone
    anon = request.cookies.get(CSRF_COOKIE, "")
    fresh = len(anon) < 32
    web = Web(
        request=request,
        settings=settings,
        session=session,
        locale=choose_locale(
            member_locale=auth.actor.locale if auth else None,
            cookie=request.cookies.get(LANG_COOKIE),
            accept_language=request.headers.get("accept-language"),
            default=settings.default_locale,
        ),
        nonce=secrets.token_urlsafe(16),
        timezone=timezone,
        auth=auth,
        anon_csrf=new_token() if fresh else anon,
        set_anon_csrf=fresh,
        drop_session_cookie=drop,
    )
    request.state.web = web
    return web


AnyWeb = Annotated[Web, Depends(web_context)]


async def signed_in(web: AnyWeb) -> Web:  # no I/O: async saves a thread-pool hop
    if web.auth is None:
        raise LoginRequired
    return web


UserWeb = Annotated[Web, Depends(signed_in)]


async def run_page(request: Request, work: Callable[[Web], Response]) -> Response:
    """A signed-in page that only reads (the ticket lists, the ticket profile), in one go.

    Like the API's hottest reads (``core.http.run_authenticated``): the read session, the cookie's
    authentication (remembered, validated inside the page's first statement) and the page's work and
    rendering, on the event loop on PostgreSQL. Declared FastAPI dependencies cost a thread-pool hop
    and their resolution each.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired

    def job(session: Session, auth: Authenticated) -> Response:
        if not _opens_pages(auth):
            raise LoginRequired
        return work(_web_for(request, session, auth, drop=False))

    return await run_authenticated(request, token, job)


MAX_FORM_FILES = 10  # files a form takes (the create form's hint says so)
# Parsed beyond that, so a form with a few files too many comes back with the text typed and an error
# next to the files, not as a bare 400 from the parser (the body's size limit below still holds).
PARSED_FORM_FILES = 5 * MAX_FORM_FILES
FORM_OVERHEAD = 1024 * 1024  # the text fields and multipart framing around the files


async def read_form(request: Request) -> FormData:
    """The posted form; a body larger than the files allowed on a form is refused before parsing."""
    settings: Settings = request.app.state.settings
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_FILES * settings.upload_max_bytes + FORM_OVERHEAD:
        raise too_large(settings.upload_max_bytes, field="files")
    try:
        return await request.form(max_files=PARSED_FORM_FILES, max_fields=500)
    except HTTPException as exc:  # the parser's limits or a malformed body: a page, not JSON
        raise ValidationFailed("The form could not be read. Go back and send it again.") from exc


def checked_form(web: AnyWeb, form: Annotated[FormData, Depends(read_form)]) -> FormData:
    """Synchronizer token for signed-in forms; double-submit cookie for the anonymous ones."""
    sent = form.get(CSRF_FIELD)
    expected = [web.auth.auth_session.csrf_token] if web.auth else []
    if not web.set_anon_csrf:
        expected.append(web.anon_csrf)
    if not isinstance(sent, str) or not any(constant_time_equals(sent, e) for e in expected if e):
        raise CsrfRejected("The form has expired. Reload the page and try again.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def attempt(session: Session, call: Callable[[], T]) -> T:
    """Run one service call in a savepoint, so a refused write leaves nothing behind.

    Errors marked ``keep_changes`` (a spent code try, a throttle hit) keep what the call wrote.
    """
    savepoint = session.begin_nested()
    try:
        result = call()
    except DomainError as exc:
        if exc.keep_changes:
            savepoint.commit()
        else:
            savepoint.rollback()
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


# --- HTML error pages -----------------------------------------------------------------------------
def _fallback_web(request: Request) -> Web | None:
    web = getattr(request.state, "web", None)
    return web if isinstance(web, Web) else None


async def _rollback(web: Web | None, exc: Exception) -> None:
    # Function-scoped dependencies close after this route returns: without a rollback a page that
    # turned an error into HTML would commit whatever the failed call had flushed.
    if web is not None and not (isinstance(exc, DomainError) and exc.keep_changes):
        await run_in_threadpool(web.session.rollback)


def error_page(request: Request, exc: DomainError) -> Response:
    web = _fallback_web(request)
    settings: Settings = request.app.state.settings
    if web is None:
        locale = choose_locale(
            member_locale=None,
            cookie=request.cookies.get(LANG_COOKIE),
            accept_language=request.headers.get("accept-language"),
            default=settings.default_locale,
        )
        timezone = settings.default_timezone
        nonce = secrets.token_urlsafe(16)
        context: dict[str, Any] = {
            "csrf_token": "",
            "csrf_field": CSRF_FIELD,
            "csrf_input": csrf_input(""),
            "nonce": nonce,
            "tz": timezone,
            "palette": "",
            "path": request.url.path,
            "full_path": current_path(request),
        }
    else:
        locale, nonce, context = web.locale, web.nonce, web.context(palette=False)
    translations = get_translations(locale)
    message = web.error_text(exc) if web else render_error(exc, locale)
    html = render_template(
        locale,
        "app/error.html",
        {**context, "status": exc.status, "title": translations.gettext(exc.title), "message": message},
    )
    response = HTMLResponse(html, status_code=exc.status)
    if web is not None:
        web.finish(response)
    else:
        secure_headers(response, nonce)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def login_redirect(request: Request) -> Response:
    target = LOGIN_URL
    if request.method == "GET":
        target += "?next=" + quote(safe_next(current_path(request)), safe="/")
    web = _fallback_web(request)
    response = RedirectResponse(target, status_code=303)
    return web.finish(response) if web else response


async def html_errors(request: Request, call: Callable[[], Awaitable[Response]]) -> Response:
    """``call()``'s response, with domain errors as pages (404/403/…) and a missing login as a redirect.

    The page's :class:`Web` is forgotten afterwards: it holds the request, whose scope holds it, and
    such a cycle (with the request's session, its whole object graph) waits for the collector.
    Every page's did, so full collections ran every ≈ 1.5 s under load, 10–20 ms each.
    """
    try:
        return await call()
    except LoginRequired as exc:
        await _rollback(_fallback_web(request), exc)
        return login_redirect(request)
    except RequestValidationError as exc:
        await _rollback(_fallback_web(request), exc)
        return error_page(request, NotFound("Page not found"))
    except Unauthenticated as exc:
        await _rollback(_fallback_web(request), exc)
        return login_redirect(request)
    except DomainError as exc:
        await _rollback(_fallback_web(request), exc)
        return error_page(request, exc)
    finally:
        forget_web(request)


def forget_web(request: Request) -> None:
    """Drop the request's reference to its :class:`Web` (see :func:`html_errors`)."""
    if hasattr(request.state, "web"):
        del request.state.web


class WebRoute(APIRoute):
    """HTML routes: domain errors become pages (404/403/…), a missing login a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await html_errors(request, lambda: handler(request))

        return route


def page_route(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    """A hot read page (the ticket lists, the ticket profile) as a plain Starlette GET route, which the
    application matches before every router (``fixflow.app``, a module's ``PAGE_ROUTES``).

    Such a page declares no FastAPI parameters (it reads its query itself and runs through
    :func:`run_page`), yet FastAPI's route — its included router matched twice, the request's
    dependencies solved — cost ≈ 50 µs of a ≈ 450 µs list page. Errors become pages as on
    :class:`WebRoute`; path parameters are in ``request.path_params``.
    """

    async def page(request: Request) -> Response:
        return await html_errors(request, lambda: endpoint(request))

    return Route(path, page, methods=["GET"], include_in_schema=False)
