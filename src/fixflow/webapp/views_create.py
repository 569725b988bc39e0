"""«Новая заявка»: step 1 picks the object (tree, search or QR), step 2 is the ticket form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from fixflow.catalogs.models import TicketType
from fixflow.catalogs.queries import ticket_types_for, work_types_for
from fixflow.core.errors import DomainError, NotFound
from fixflow.objects.qr import resolve_qr
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.service import TicketDraft
from fixflow.webapp import forms
from fixflow.webapp.compose import (
    create_ticket_with_files,
    own_uploads,
    store_field_files,
    store_uploads,
    too_many_files,
)
from fixflow.webapp.forms import NO_ERRORS, FormErrors
from fixflow.webapp.lookups import object_level, picked_object, search_objects
from fixflow.webapp.web import MAX_FORM_FILES, CheckedForm, UserWeb, Web, WebRoute, attempt

router = APIRouter(route_class=WebRoute, include_in_schema=False)

BASE_FIELDS = ("object_id", "type_id", "work_type_id", "description", "files")


def qr_token(raw: str) -> str:
    """The token from whatever was typed or scanned: the bare code, a /q/<token> link, or ?qr=."""
    text = raw.strip()
    parts = urlsplit(text)
    if "/q/" in parts.path:
        return parts.path.split("/q/", 1)[1].strip("/").split("/", 1)[0]
    found = parse_qs(parts.query).get("qr")
    return found[0].strip() if found else text


@dataclass
class Draft:
    """The ticket form as typed (or prefilled from a QR code)."""

    object_id: int
    type_id: int | None = None
    work_type_id: int | None = None
    description: str = ""
    qr: str = ""
    typed_fields: dict[str, list[str]] | None = None
    attachment_ids: list[int] = field(default_factory=list)


def _chosen_type(types: list[TicketType], type_id: int | None) -> TicketType | None:
    if type_id is None and len(types) == 1:
        return types[0]
    return next((t for t in types if t.id == type_id), None)


def _form_page(web: Web, draft: Draft, errors: FormErrors = NO_ERRORS, status_code: int = 200) -> Response:
    actor, session = web.actor, web.session
    obj = picked_object(session, actor, draft.object_id)
    types = ticket_types_for(session, actor)
    chosen = _chosen_type(types, draft.type_id)
    work_types = work_types_for(session, actor, object_id=obj.id, type_id=chosen.id if chosen else None)
    widgets = EXTENSIONS.fields.form_widgets(session, actor, chosen.id, None) if chosen else []
    return web.render(
        "app/new_form.html",
        status_code=status_code,
        obj=obj,
        draft=draft,
        types=types,
        chosen_type=chosen,
        work_types=work_types,
        widgets=forms.prepare_widgets(widgets, draft.typed_fields, web.timezone),
        uploads=own_uploads(session, actor, draft.attachment_ids),
        errors=errors,
        max_upload_mb=max(1, web.settings.upload_max_bytes // (1024 * 1024)),
    )


def _picker_page(
    web: Web, *, parent: int | None, q: str, qr: str = "", qr_error: str | None = None, status_code: int = 200
) -> Response:
    actor, session = web.actor, web.session
    level = object_level(session, actor, parent) if not q else None
    found, truncated = search_objects(session, actor, q) if q else ([], False)
    return web.render(
        "app/new_object.html",
        status_code=status_code,
        level=level,
        found=found,
        truncated=truncated or bool(level and level.truncated),
        q=q,
        qr=qr,
        qr_error=qr_error,
    )


@router.get("/app/tickets/new")
def new_ticket(
    web: UserWeb,
    q: str = "",
    parent: str = "",
    object_id: Annotated[str, Query(alias="object")] = "",
    type_id: Annotated[str, Query(alias="type")] = "",
    qr: str = "",
) -> Response:
    q, qr = q[:200], qr[:500]
    if qr.strip():
        token = qr_token(qr)
        try:
            found_object, found_type, found_work_type = resolve_qr(web.session, web.actor, token)
        except NotFound:
            message = web.gettext(
                "This QR code is not recognised. Check it or choose the object in the list."
            )
            return _picker_page(web, parent=None, q="", qr=qr, qr_error=message, status_code=404)
        draft = Draft(found_object, type_id=found_type, work_type_id=found_work_type, qr=token)
        return _form_page(web, draft)
    chosen_object = forms.to_int(object_id)
    if chosen_object is not None:
        return _form_page(web, Draft(chosen_object, type_id=forms.to_int(type_id)))
    return _picker_page(web, parent=forms.to_int(parent), q=q.strip())


@router.get("/app/tickets/new/tree")
def object_tree_fragment(web: UserWeb, parent: str = "") -> Response:
    """Children of one node, for the picker's lazy expansion (plain HTML, no layout)."""
    level = object_level(web.session, web.actor, forms.to_int(parent))
    return web.render(
        "_partials/object_tree.html", nodes=level.nodes, truncated=level.truncated, palette=False
    )


def _typed_draft(form: FormData, attachment_ids: list[int]) -> Draft:
    return Draft(
        object_id=forms.optional_int(form, "object_id") or 0,
        type_id=forms.optional_int(form, "type_id"),
        work_type_id=forms.optional_int(form, "work_type_id"),
        description=forms.text(form, "description"),
        qr=forms.text(form, "qr", max_length=100),
        typed_fields=forms.typed_field_values(form),
        attachment_ids=attachment_ids,
    )


def _files(form: FormData) -> list[UploadFile]:
    return [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]


@router.post("/app/tickets/new")
def create_submit(web: UserWeb, form: CheckedForm) -> Response:
    actor, session = web.actor, web.session
    kept = [i for i in (forms.to_int(v) for v in forms.texts(form, "attachment_ids")) if i is not None]
    draft = _typed_draft(form, kept)
    files = _files(form)
    if len(kept) + len(files) > MAX_FORM_FILES:
        exc = too_many_files(MAX_FORM_FILES)
        return _form_page(web, draft, web.form_errors(exc, BASE_FIELDS), status_code=exc.status)
    # Uploads are stored first, so a form that comes back keeps the files already chosen; one file
    # refused (too large, say) keeps those stored before it.
    stored: list[int] = []
    try:
        for upload in files:
            stored += [a.id for a in store_uploads(session, actor, web.settings, [upload])]
    except DomainError as exc:
        draft.attachment_ids = kept + stored
        return _form_page(web, draft, web.form_errors(exc, BASE_FIELDS), status_code=exc.status)
    draft.attachment_ids = kept + stored
    if "_refresh" in form:
        return _form_page(web, draft)  # the ticket type changed: show its fields, keep the rest
    types = {t.id: t for t in ticket_types_for(session, actor)}
    widgets = (
        EXTENSIONS.fields.form_widgets(session, actor, draft.type_id, None) if draft.type_id in types else []
    )
    try:
        field_files = store_field_files(session, actor, web.settings, form, widgets)
    except DomainError as exc:
        shown = [*BASE_FIELDS, *(f"fields.{w['code']}" for w in widgets)]
        return _form_page(web, draft, web.form_errors(exc, shown), status_code=exc.status)
    # A form that comes back keeps the stored files (their ids ride in hidden inputs).
    draft.typed_fields = {**(draft.typed_fields or {}), **{c: [i] for c, i in field_files.items()}}
    ticket_draft = TicketDraft(
        type_id=draft.type_id or 0,
        object_id=draft.object_id,
        description=draft.description,
        work_type_id=draft.work_type_id,
        source="qr" if draft.qr else "app",
        fields={**forms.field_values(form, widgets), **field_files},
    )
    try:
        ticket = attempt(
            session, lambda: create_ticket_with_files(session, actor, ticket_draft, draft.attachment_ids)
        )
    except DomainError as exc:
        shown = [*BASE_FIELDS, *(f"fields.{w['code']}" for w in widgets)]
        return _form_page(web, draft, web.form_errors(exc, shown), status_code=exc.status)
    return web.redirect(f"/app/tickets/{ticket.id}?done=created")
