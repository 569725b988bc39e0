"""Form workflows that span several services in one transaction (uploads, then the ticket)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from fixflow.accounts.actor import Actor
from fixflow.attachments.models import Attachment
from fixflow.attachments.service import attach_to_ticket, create_attachment, upload_root
from fixflow.attachments.storage import Storage
from fixflow.config import Settings
from fixflow.core.errors import FieldProblem, ValidationFailed
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import TicketDraft, create_ticket


def too_many_files(limit: int) -> ValidationFailed:
    """More files than a form takes, next to its files field."""
    message = "Attach at most {limit} files"
    return ValidationFailed(message, limit=limit, errors=[FieldProblem("files", message, {"limit": limit})])


def storage(settings: Settings) -> Storage:
    return Storage(upload_root(settings.data_dir))


def store_uploads(
    session: Session, actor: Actor, settings: Settings, files: Sequence[UploadFile]
) -> list[Attachment]:
    """Store the chosen files as the actor's unbound uploads (size limit and type sniffing included)."""
    return [
        create_attachment(
            session,
            actor,
            storage(settings),
            filename=upload.filename,
            stream=upload.file,
            max_bytes=settings.upload_max_bytes,
            field="files",
        )
        for upload in files
    ]


def own_uploads(session: Session, actor: Actor, ids: Sequence[int]) -> list[Attachment]:
    """The actor's own files not yet bound to anything, among ``ids`` (to show them on the form again)."""
    if not ids:
        return []
    return list(
        session.scalars(
            select(Attachment)
            .where(
                Attachment.id.in_(list(ids)),
                Attachment.tenant_id == actor.tenant_id,
                Attachment.uploaded_by == actor.member_id,
                Attachment.ticket_id.is_(None),
                Attachment.object_id.is_(None),
                Attachment.company_id.is_(None),
            )
            .order_by(Attachment.id)
        )
    )


def create_ticket_with_files(
    session: Session, actor: Actor, draft: TicketDraft, attachment_ids: Sequence[int]
) -> Ticket:
    ticket = create_ticket(session, actor, draft)
    if attachment_ids:
        attach_to_ticket(session, actor, list(attachment_ids), ticket)
    return ticket


def store_field_files(
    session: Session, actor: Actor, settings: Settings, form: FormData, widgets: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Uploads posted for ``file`` additional fields, stored as the actor's uploads: code → attachment id.

    The fields feature checks the id and binds the file to the ticket when the ticket is written.
    """
    stored: dict[str, str] = {}
    for widget in widgets:
        code = str(widget["code"])
        if widget.get("type") != "file" or widget.get("readonly"):
            continue
        uploads = [f for f in form.getlist(f"f.{code}") if isinstance(f, UploadFile) and f.filename]
        if uploads:
            attachment = create_attachment(
                session,
                actor,
                storage(settings),
                filename=uploads[-1].filename,
                stream=uploads[-1].file,
                max_bytes=settings.upload_max_bytes,
                field=f"fields.{code}",
            )
            stored[code] = str(attachment.id)
    return stored
