"""QR codes of objects: issuing, resolving a scanned token, revoking, rendering (domain §3).

A code is an unguessable token bound to an object and optionally to a ticket type and a work type.
Scanning it opens ticket creation with those filled in. Resolving goes through the object
visibility rules: an unknown or revoked token and an object the scanner may not see both answer
404, so a token from another company or tenant reveals nothing.
"""

from __future__ import annotations

import io
import re
import secrets

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.permissions import Permission
from fixflow.catalogs.models import TicketType, WorkType
from fixflow.core.db import utcnow
from fixflow.core.errors import ErrorCollector, Forbidden, NotFound
from fixflow.objects.models import ServiceObject
from fixflow.objects.models_qr import ObjectQrCode
from fixflow.objects.queries import allows_work_type, get_object_for_actor

TOKEN_BYTES = 18  # 144 bits, 24 URL-safe characters: short enough for a small, robust QR code
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_qr_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token_shaped(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


def qr_link(base_url: str, token: str) -> str:
    """What the printed code encodes: the short link that opens ticket creation."""
    return f"{base_url.rstrip('/')}/q/{token}"


def _require_manage(actor: Actor) -> None:
    if not actor.can(Permission.OBJECT_MANAGE):
        raise Forbidden("You may not manage QR codes of objects")


def _check_template(
    session: Session, actor: Actor, obj: ServiceObject, ticket_type_id: int | None, work_type_id: int | None
) -> None:
    errors = ErrorCollector()
    ticket_type = session.get(TicketType, ticket_type_id) if ticket_type_id is not None else None
    if ticket_type_id is not None and (
        ticket_type is None or ticket_type.tenant_id != actor.tenant_id or not ticket_type.published
    ):
        errors.add("ticket_type_id", "Unknown ticket type")
    work_type = session.get(WorkType, work_type_id) if work_type_id is not None else None
    if work_type_id is not None:
        if work_type is None or work_type.tenant_id != actor.tenant_id or not work_type.published:
            errors.add("work_type_id", "Unknown work type")
        elif not allows_work_type(obj, work_type_id):
            errors.add("work_type_id", "This work type is not allowed for the object")
        elif (
            ticket_type is not None
            and ticket_type.allowed_work_type_ids is not None
            and work_type_id not in ticket_type.allowed_work_type_ids
        ):
            errors.add("work_type_id", "This work type is not allowed for the ticket type")
    errors.raise_if_any()


def create_qr(
    session: Session,
    actor: Actor,
    object_id: int,
    *,
    ticket_type_id: int | None = None,
    work_type_id: int | None = None,
) -> ObjectQrCode:
    """Issue a new code for an object (older codes stay valid until revoked: stickers are out there)."""
    obj = get_object_for_actor(session, actor, object_id)
    _require_manage(actor)
    _check_template(session, actor, obj, ticket_type_id, work_type_id)
    code = ObjectQrCode(
        tenant_id=actor.tenant_id,
        object_id=obj.id,
        token=new_qr_token(),
        ticket_type_id=ticket_type_id,
        work_type_id=work_type_id,
    )
    session.add(code)
    session.flush()
    return code


def resolve_qr(session: Session, actor: Actor, token: str) -> tuple[int, int | None, int | None]:
    """``(object_id, ticket_type_id, work_type_id)`` of a scanned code; 404 unless the actor may see it."""
    code = (
        session.scalar(
            select(ObjectQrCode).where(
                ObjectQrCode.tenant_id == actor.tenant_id,
                ObjectQrCode.token == token,
                ObjectQrCode.revoked_at.is_(None),
            )
        )
        if is_token_shaped(token)
        else None
    )
    if code is None:
        raise NotFound("QR code not found")
    try:
        obj = get_object_for_actor(session, actor, code.object_id)
    except NotFound:
        raise NotFound("QR code not found") from None
    return obj.id, code.ticket_type_id, code.work_type_id


def list_qr_codes(session: Session, actor: Actor, object_id: int) -> list[ObjectQrCode]:
    """Active codes of an object, newest first (staff who manage objects only)."""
    obj = get_object_for_actor(session, actor, object_id)
    _require_manage(actor)
    return list(
        session.scalars(
            select(ObjectQrCode)
            .where(
                ObjectQrCode.tenant_id == actor.tenant_id,
                ObjectQrCode.object_id == obj.id,
                ObjectQrCode.revoked_at.is_(None),
            )
            .order_by(ObjectQrCode.id.desc())
        )
    )


def current_qr(session: Session, actor: Actor, object_id: int) -> ObjectQrCode:
    """The object's newest active code; staff who manage objects get a default one on first use."""
    obj = get_object_for_actor(session, actor, object_id)
    code = session.scalars(
        select(ObjectQrCode)
        .where(
            ObjectQrCode.tenant_id == actor.tenant_id,
            ObjectQrCode.object_id == obj.id,
            ObjectQrCode.revoked_at.is_(None),
        )
        .order_by(ObjectQrCode.id.desc())
        .limit(1)
    ).first()
    if code is not None:
        return code
    if not actor.can(Permission.OBJECT_MANAGE):
        raise NotFound("This object has no QR code")
    return create_qr(session, actor, obj.id)


def revoke_qr(session: Session, actor: Actor, object_id: int, code_id: int) -> None:
    """Stop a code from working (a lost or misplaced sticker). Revoking twice is a no-op."""
    obj = get_object_for_actor(session, actor, object_id)
    _require_manage(actor)
    code = session.get(ObjectQrCode, code_id)
    if code is None or code.tenant_id != actor.tenant_id or code.object_id != obj.id:
        raise NotFound("QR code not found")
    if code.revoked_at is None:
        code.revoked_at = utcnow()
        session.flush()


def qr_svg(link: str, *, scale: int = 8, border: int = 4) -> bytes:
    """The code as a stand-alone SVG (error correction M: survives a scratched sticker)."""
    buffer = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
        buffer, kind="svg", scale=scale, border=border, xmldecl=True, svgns=True, title="QR", nl=True
    )
    return buffer.getvalue()
