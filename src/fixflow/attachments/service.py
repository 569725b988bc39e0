"""Uploading, reading and attaching files, with visibility that follows the file's owner.

An attachment bound to a ticket is visible exactly when the ticket is (and, when it is the value of an
additional field, when that field is visible too); bound to an object or a company, when that is; an
unbound one only to its uploader. Anything else answers 404, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.attachments.models import Attachment
from fixflow.attachments.storage import Storage, TooLarge, clean_filename
from fixflow.core.errors import DomainError, FieldProblem, NotFound, ValidationFailed
from fixflow.jobs.outbox import emit_event
from fixflow.objects.queries import get_object_for_actor
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.history import record
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import get_ticket_for_actor

ATTACHMENT_ADDED = "attachment_added"


class PayloadTooLarge(DomainError):
    status = 413
    type_slug = "payload-too-large"
    title = "The upload is too large"


def too_large(max_bytes: int, *, field: str = "file") -> PayloadTooLarge:
    """The size error, in megabytes as the form's hint says, next to the upload field."""
    megabytes = f"{max_bytes / 1024 / 1024:.1f}".removesuffix(".0")
    message = "Each file may be at most {limit} MB"
    return PayloadTooLarge(
        message, limit=megabytes, errors=[FieldProblem(field, message, {"limit": megabytes})]
    )


def upload_root(data_dir: Path) -> Path:
    """Uploads live beside the database, never under the package's static directory."""
    return data_dir / "uploads"


def create_attachment(
    session: Session,
    actor: Actor,
    storage: Storage,
    *,
    filename: str | None,
    stream: BinaryIO,
    max_bytes: int,
    field: str = "file",
) -> Attachment:
    """Store the bytes and an unbound row owned by the actor; the type is sniffed from the content."""
    try:
        stored = storage.save(stream, max_bytes=max_bytes)
    except TooLarge:
        raise too_large(max_bytes, field=field) from None
    attachment = Attachment(
        tenant_id=actor.tenant_id,
        uploaded_by=actor.member_id,
        filename=clean_filename(filename),
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
    )
    session.add(attachment)
    session.flush()
    return attachment


def get_attachment_for_actor(session: Session, actor: Actor, attachment_id: int) -> Attachment:
    attachment = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.tenant_id == actor.tenant_id)
    )
    if attachment is None or not _visible(session, actor, attachment):
        raise NotFound("Attachment not found")
    return attachment


def _visible(session: Session, actor: Actor, attachment: Attachment) -> bool:
    try:
        if attachment.ticket_id is not None:
            ticket = get_ticket_for_actor(session, actor, attachment.ticket_id)
            return attachment.field_code is None or attachment.field_code in visible_field_codes(
                session, actor, ticket
            )
        if attachment.object_id is not None:
            get_object_for_actor(session, actor, attachment.object_id)
            return True
    except NotFound:
        return False
    if attachment.company_id is not None:
        return actor.is_staff or attachment.company_id in actor.company_ids
    return attachment.uploaded_by == actor.member_id


def visible_field_codes(session: Session, actor: Actor, ticket: Ticket) -> set[str]:
    return set(EXTENSIONS.fields.api_values(session, actor, ticket))


def list_ticket_attachments(session: Session, actor: Actor, ticket: Ticket) -> list[Attachment]:
    """Files of a ticket the caller has already checked the actor may see."""
    rows = session.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    ).all()
    if any(row.field_code for row in rows):
        codes = visible_field_codes(session, actor, ticket)
        return [row for row in rows if row.field_code is None or row.field_code in codes]
    return list(rows)


class StoredFile(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def field_code(self) -> str | None: ...


@dataclass(frozen=True)
class TicketFile:
    id: int
    filename: str
    content_type: str


def visible_files(
    session: Session, actor: Actor, ticket: Ticket, rows: Sequence[StoredFile]
) -> list[TicketFile]:
    """The files of ``rows`` the actor may see: a file of an extra field only where that field is
    shown to them. ``rows``: the ticket's files by id, as the profile reads them (``TicketDetail.files``)."""
    codes = visible_field_codes(session, actor, ticket) if any(r.field_code for r in rows) else set()
    return [
        TicketFile(r.id, r.filename, r.content_type)
        for r in rows
        if r.field_code is None or r.field_code in codes
    ]


def attach_to_ticket(
    session: Session, actor: Actor, attachment_ids: Sequence[int], ticket: Ticket
) -> list[Attachment]:
    """Bind the actor's own unbound uploads to a ticket the caller checked the actor may see.

    Idempotent: a file already on this ticket is left as it is. Anything else (someone else's upload,
    a file bound elsewhere, an unknown id) refuses the whole request.
    """
    wanted = list(dict.fromkeys(attachment_ids))
    rows = {
        a.id: a
        for a in session.scalars(
            select(Attachment).where(Attachment.id.in_(wanted), Attachment.tenant_id == ticket.tenant_id)
        )
    }
    problems = [
        FieldProblem(f"attachment_ids.{index}", "Unknown attachment")
        for index, attachment_id in enumerate(wanted)
        if (found := rows.get(attachment_id)) is None
        or not (found.ticket_id == ticket.id or _own_unbound(found, actor))
    ]
    if problems:
        raise ValidationFailed("Invalid input", errors=problems)
    for attachment_id in wanted:
        attachment = rows[attachment_id]
        if attachment.ticket_id == ticket.id:
            continue
        attachment.ticket_id = ticket.id
        record(
            session,
            ticket,
            actor_id=actor.member_id,
            kind=ATTACHMENT_ADDED,
            field="attachment",
            new={"id": attachment.id, "filename": attachment.filename},
        )
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.attachment_added",
            ticket_id=ticket.id,
            actor_id=actor.member_id,
            payload={"attachment_id": attachment.id},
        )
    session.flush()
    return [rows[i] for i in wanted]


def _own_unbound(attachment: Attachment, actor: Actor) -> bool:
    return not attachment.is_bound and attachment.uploaded_by == actor.member_id


def usable_as_field_value(
    session: Session,
    actor: Actor,
    attachment_id: int,
    *,
    ticket_id: int | None = None,
    object_id: int | None = None,
    company_id: int | None = None,
) -> bool:
    """A `file` field may hold the actor's own unbound upload or a file already bound to the same owner."""
    attachment = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.tenant_id == actor.tenant_id)
    )
    if attachment is None:
        return False
    if _own_unbound(attachment, actor):
        return True
    owner = (attachment.ticket_id, attachment.object_id, attachment.company_id)
    return owner != (None, None, None) and owner == (ticket_id, object_id, company_id)


def bind_field_file(
    session: Session,
    attachment_id: int,
    *,
    field_code: str,
    object_id: int | None = None,
    company_id: int | None = None,
) -> None:
    """Bind an unbound upload, just accepted as a field value, to its object or company."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is not None and not attachment.is_bound:
        attachment.object_id = object_id
        attachment.company_id = company_id
        attachment.field_code = field_code
