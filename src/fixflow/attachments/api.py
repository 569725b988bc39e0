"""File uploads and downloads, and the files of a ticket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from fixflow.accounts.service import resolve_session
from fixflow.attachments.models import Attachment
from fixflow.attachments.service import (
    attach_to_ticket,
    create_attachment,
    get_attachment_for_actor,
    list_ticket_attachments,
    too_large,
    upload_root,
)
from fixflow.attachments.storage import IMAGE_TYPES, Storage
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.core.errors import FieldProblem, Unauthenticated, ValidationFailed
from fixflow.core.http import CurrentActor, DbSession, bearer_token, get_settings_dep, reject_unknown_query
from fixflow.core.schemas import Input, Output
from fixflow.tickets.service import get_ticket_for_actor

router = APIRouter(tags=["attachments"], dependencies=[Depends(reject_unknown_query)])

# Multipart boundaries and part headers around the file; more than this means the file is too large.
MULTIPART_OVERHEAD = 16 * 1024


class AttachmentOut(Output):
    id: int
    filename: str
    size: int
    content_type: str


class TicketAttachmentOut(AttachmentOut):
    uploaded_by: int
    created_at: dt.datetime
    field_code: str | None


class AttachRequest(Input):
    attachment_ids: list[int] = Field(min_length=1, max_length=50)


def _storage(settings: Settings) -> Storage:
    return Storage(upload_root(settings.data_dir))


def _authenticate(request: Request) -> None:
    """Refuse a bad token before reading the body (in a short read-only unit of work)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Please log in")
    database: Database = request.app.state.db
    with database.session() as session:
        resolve_session(session, token)


async def upload_part(request: Request) -> AsyncIterator[UploadFile]:
    """The single ``file`` part, read with the size limit enforced while it streams in.

    Starlette would otherwise spool a body of any size to disk before the endpoint could refuse it.
    Runs before the database session is opened, so a slow upload never holds SQLite's write lock.
    """
    await run_in_threadpool(_authenticate, request)
    settings: Settings = request.app.state.settings
    budget = settings.upload_max_bytes + MULTIPART_OVERHEAD
    refusal = too_large(settings.upload_max_bytes)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > budget:
        raise refusal
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ValidationFailed("Send the file as multipart/form-data in the part «file»")

    async def limited() -> AsyncGenerator[bytes, None]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > budget:
                raise refusal
            yield chunk

    try:
        form = await MultiPartParser(request.headers, limited(), max_files=1, max_fields=0).parse()
    except MultiPartException as exc:
        raise ValidationFailed("The upload is not valid: {reason}", reason=exc.message) from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ValidationFailed("Invalid input", errors=[FieldProblem("file", "Choose a file")])
        yield part
    finally:
        await form.close()


@router.post(
    "/attachments",
    response_model=AttachmentOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
def upload_attachment(
    part: Annotated[UploadFile, Depends(upload_part)],
    session: DbSession,
    actor: CurrentActor,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> AttachmentOut:
    """Upload one file (part ``file``); it stays private to you until attached to a ticket."""
    attachment = create_attachment(
        session,
        actor,
        _storage(settings),
        filename=part.filename,
        stream=part.file,
        max_bytes=settings.upload_max_bytes,
    )
    return AttachmentOut.model_validate(attachment)


@router.get("/attachments/{attachment_id}", response_class=FileResponse)
def download_attachment(
    attachment_id: int,
    session: DbSession,
    actor: CurrentActor,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> FileResponse:
    attachment = get_attachment_for_actor(session, actor, attachment_id)
    return file_response(_storage(settings), attachment)


def file_response(storage: Storage, attachment: Attachment) -> FileResponse:
    """Images inline, everything else as a download; never sniffed, never run as a page."""
    inline = attachment.content_type in IMAGE_TYPES
    return FileResponse(
        storage.path(attachment.storage_key),
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Cache-Control": "private, max-age=86400",
        },
    )


@router.get("/tickets/{ticket_id}/attachments", response_model=list[TicketAttachmentOut])
def ticket_attachments(ticket_id: int, session: DbSession, actor: CurrentActor) -> list[TicketAttachmentOut]:
    ticket = get_ticket_for_actor(session, actor, ticket_id)
    return [TicketAttachmentOut.model_validate(a) for a in list_ticket_attachments(session, actor, ticket)]


@router.post("/tickets/{ticket_id}/attachments", response_model=list[TicketAttachmentOut])
def add_ticket_attachments(
    ticket_id: int, body: AttachRequest, session: DbSession, actor: CurrentActor
) -> list[TicketAttachmentOut]:
    """Attach your own uploads (``POST /attachments`` first) to a ticket you can see."""
    ticket = get_ticket_for_actor(session, actor, ticket_id, for_update=True)
    attach_to_ticket(session, actor, body.attachment_ids, ticket)
    return [TicketAttachmentOut.model_validate(a) for a in list_ticket_attachments(session, actor, ticket)]
