"""The ticket profile («Заявка»), favourites, transitions and the rating screen («Оценка»)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fixflow.attachments.service import visible_files
from fixflow.attachments.storage import IMAGE_TYPES
from fixflow.core.errors import DomainError
from fixflow.core.i18n import N_
from fixflow.ratings.service import active_criteria, get_my_rating, may_rate, rate_ticket
from fixflow.tickets.detail import load_ticket_profile, ticket_detail
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.listing import is_overdue
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import add_favorite, get_ticket_for_actor, remove_favorite
from fixflow.tickets.transitions import OfferedTransition, transition_ticket
from fixflow.webapp import forms
from fixflow.webapp.forms import NO_ERRORS, FormErrors
from fixflow.webapp.lookups import work_rows
from fixflow.webapp.web import CheckedForm, UserWeb, Web, WebRoute, attempt, page_route, run_page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PROFILE_TABS: tuple[tuple[str, str], ...] = (
    ("ticket", N_("Ticket")),
    ("chat", N_("Messages")),
    ("works", N_("Works")),
    ("act", N_("Act")),
)
NOTICES = {
    "created": N_("The ticket has been created."),
    "rated": N_("Thank you! Your rating has been saved."),
    "favorite_added": N_("Added to favourites."),
    "favorite_removed": N_("Removed from favourites."),
}


def _url(ticket_id: int, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return f"/app/tickets/{ticket_id}" + (f"?{query}" if query else "")


async def ticket_page(request: Request) -> Response:
    """Query: tab, done (read here, see ``views_tickets.tickets_page``)."""
    ticket_id: int = request.path_params["ticket_id"]
    tab = request.query_params.get("tab", "ticket")
    tab = tab if tab in dict(PROFILE_TABS) else "ticket"
    done = request.query_params.get("done", "")

    def page_html(web: Web) -> Response:
        actor, session = web.actor, web.session
        detail = load_ticket_profile(session, actor, ticket_id)
        ticket = detail.ticket
        my_rating = detail.my_rating
        return web.render(
            "app/ticket.html",
            detail=detail,
            ticket=ticket,
            tab=tab,
            profile_tabs=PROFILE_TABS,
            fields=EXTENSIONS.fields.display_items(session, actor, ticket) if tab == "ticket" else [],
            works=work_rows(session, ticket) if tab == "works" else [],
            files=visible_files(session, actor, ticket, detail.files) if tab == "ticket" else [],
            image_types=IMAGE_TYPES,
            criteria=active_criteria(session, actor.tenant_id) if my_rating else [],
            is_overdue=is_overdue(ticket),
            notice=web.gettext(NOTICES[done]) if done in NOTICES else None,
            error=None,
        )

    return await run_page(request, page_html)


PAGE_ROUTES = [page_route("/app/tickets/{ticket_id:int}", ticket_page)]


@router.post("/app/tickets/{ticket_id:int}/favorite")
def favorite(web: UserWeb, ticket_id: int, form: CheckedForm) -> Response:
    ticket = get_ticket_for_actor(web.session, web.actor, ticket_id)
    if forms.text(form, "action", max_length=10) == "remove":
        remove_favorite(web.session, web.actor, ticket)
        return web.redirect(_url(ticket.id, done="favorite_removed"))
    add_favorite(web.session, web.actor, ticket)
    return web.redirect(_url(ticket.id, done="favorite_added"))


def _offered(transitions: list[OfferedTransition], transition_id: int | None) -> OfferedTransition | None:
    return next((t for t in transitions if t.id == transition_id), None)


def _transition_form(
    web: Web,
    ticket: Ticket,
    transition_id: int | None,
    *,
    comment: str = "",
    errors: FormErrors = NO_ERRORS,
    status_code: int = 200,
) -> Response:
    """The comment step of a transition (the no-JS twin of the dialog); also shows refusals."""
    detail = ticket_detail(web.session, web.actor, ticket)
    offered = _offered(detail.transitions, transition_id)
    if offered is None and not errors:
        errors = FormErrors(general=[web.gettext("This action is not available to you for this ticket")])
    return web.render(
        "app/transition.html",
        status_code=status_code,
        detail=detail,
        ticket=ticket,
        transition=offered,
        comment=comment,
        errors=errors,
    )


@router.get("/app/tickets/{ticket_id:int}/transition/{transition_id:int}")
def transition_page(web: UserWeb, ticket_id: int, transition_id: int) -> Response:
    ticket = get_ticket_for_actor(web.session, web.actor, ticket_id)
    return _transition_form(web, ticket, transition_id)


@router.post("/app/tickets/{ticket_id:int}/transition")
def transition_submit(web: UserWeb, ticket_id: int, form: CheckedForm) -> Response:
    actor, session = web.actor, web.session
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    transition_id = forms.optional_int(form, "transition_id")
    version = forms.optional_int(form, "version")
    comment = forms.text(form, "comment", max_length=5_000).strip()
    try:
        attempt(
            session,
            lambda: transition_ticket(
                session,
                actor,
                ticket,
                transition_id=transition_id if transition_id is not None else -1,
                version=version if version is not None else -1,
                comment=comment or None,
            ),
        )
    except DomainError as exc:
        session.refresh(ticket)
        return _transition_form(
            web,
            ticket,
            transition_id,
            comment=comment,
            errors=web.form_errors(exc, ("comment",)),
            status_code=exc.status,
        )
    return web.redirect(_url(ticket.id))


# --- Оценка -----------------------------------------------------------------------------------------------
def _rating_form(
    web: Web, ticket: Ticket, values: dict[str, Any], errors: FormErrors, status_code: int = 200
) -> Response:
    return web.render(
        "app/rate.html",
        status_code=status_code,
        ticket=ticket,
        criteria=active_criteria(web.session, ticket.tenant_id),
        values=values,
        errors=errors,
    )


@router.get("/app/tickets/{ticket_id:int}/rate")
def rate_page(web: UserWeb, ticket_id: int) -> Response:
    ticket = get_ticket_for_actor(web.session, web.actor, ticket_id)
    if not may_rate(web.session, web.actor, ticket):
        return web.redirect(_url(ticket.id))
    rating = get_my_rating(web.session, web.actor, ticket)
    values: dict[str, Any] = {"scores": {}, "comment": ""}
    if rating is not None:
        values = {"scores": {str(k): int(v) for k, v in rating.scores.items()}, "comment": rating.comment}
    return _rating_form(web, ticket, values, NO_ERRORS)


def _typed_rating(form: FormData) -> dict[str, Any]:
    return {
        "scores": {str(k): v for k, v in forms.scores(form).items()},
        "comment": forms.text(form, "comment", max_length=5_000),
    }


@router.post("/app/tickets/{ticket_id:int}/rate")
def rate_submit(web: UserWeb, ticket_id: int, form: CheckedForm) -> Response:
    actor, session = web.actor, web.session
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    typed = _typed_rating(form)
    try:
        attempt(
            session,
            lambda: rate_ticket(session, actor, ticket, scores=forms.scores(form), comment=typed["comment"]),
        )
    except DomainError as exc:
        shown = [f"scores.{c.id}" for c in active_criteria(session, ticket.tenant_id)]
        return _rating_form(web, ticket, typed, web.form_errors(exc, shown), status_code=exc.status)
    return web.redirect(_url(ticket.id, done="rated"))
