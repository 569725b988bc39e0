"""REST endpoints for objects' QR codes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from fixflow.config import Settings
from fixflow.core.http import CurrentActor, DbSession, get_settings_dep, reject_unknown_query
from fixflow.core.schemas import Input, Output
from fixflow.objects.models_qr import ObjectQrCode
from fixflow.objects.qr import (
    create_qr,
    current_qr,
    list_qr_codes,
    qr_link,
    qr_svg,
    resolve_qr,
    revoke_qr,
)

router = APIRouter(tags=["objects"], dependencies=[Depends(reject_unknown_query)])
AppSettings = Annotated[Settings, Depends(get_settings_dep)]


class QrCreate(Input):
    ticket_type_id: int | None = None
    work_type_id: int | None = None


class QrOut(Output):
    id: int
    object_id: int
    token: str
    url: str
    ticket_type_id: int | None
    work_type_id: int | None
    created_at: dt.datetime


class QrTemplateOut(Output):
    object_id: int
    ticket_type_id: int | None
    work_type_id: int | None


def _out(code: ObjectQrCode, settings: Settings) -> QrOut:
    return QrOut(
        id=code.id,
        object_id=code.object_id,
        token=code.token,
        url=qr_link(settings.base_url, code.token),
        ticket_type_id=code.ticket_type_id,
        work_type_id=code.work_type_id,
        created_at=code.created_at,
    )


@router.post("/objects/{object_id}/qr", response_model=QrOut, status_code=201)
def post_qr(
    object_id: int, body: QrCreate, session: DbSession, actor: CurrentActor, settings: AppSettings
) -> QrOut:
    code = create_qr(
        session, actor, object_id, ticket_type_id=body.ticket_type_id, work_type_id=body.work_type_id
    )
    return _out(code, settings)


@router.get("/objects/{object_id}/qr", response_model=list[QrOut])
def get_qr_codes(
    object_id: int, session: DbSession, actor: CurrentActor, settings: AppSettings
) -> list[QrOut]:
    return [_out(code, settings) for code in list_qr_codes(session, actor, object_id)]


@router.get(
    "/objects/{object_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "the object's QR code"}},
)
def get_qr_svg(object_id: int, session: DbSession, actor: CurrentActor, settings: AppSettings) -> Response:
    """The object's current code as SVG; staff who manage objects get a default code on first request."""
    code = current_qr(session, actor, object_id)
    return Response(
        qr_svg(qr_link(settings.base_url, code.token)),
        media_type="image/svg+xml",
        headers={
            "Content-Disposition": f'inline; filename="object-{code.object_id}-qr.svg"',
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete("/objects/{object_id}/qr/{code_id}", status_code=204)
def delete_qr(object_id: int, code_id: int, session: DbSession, actor: CurrentActor) -> Response:
    revoke_qr(session, actor, object_id, code_id)
    return Response(status_code=204)


@router.get("/qr/{token}", response_model=QrTemplateOut)
def get_qr_template(token: str, session: DbSession, actor: CurrentActor) -> QrTemplateOut:
    """What a scanned code pre-fills in a new ticket; 404 for unknown, revoked or invisible codes."""
    object_id, ticket_type_id, work_type_id = resolve_qr(session, actor, token)
    return QrTemplateOut(object_id=object_id, ticket_type_id=ticket_type_id, work_type_id=work_type_id)
