"""Configuring additional fields (owner/admin) and editing the values of objects and companies."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from fixflow.core.http import CurrentActor, DbSession, reject_unknown_query
from fixflow.fields import schemas
from fixflow.fields.access import Level, default_level
from fixflow.fields.models import FieldDefinition, FieldEntity
from fixflow.fields.queries import entity_values, get_company_for_actor
from fixflow.fields.service import (
    AccessCell,
    DefinitionDraft,
    access_cells,
    create_definition,
    get_definition_for_actor,
    list_definitions,
    set_access_cells,
    set_archived,
    update_company_fields,
    update_definition,
    update_object_fields,
)
from fixflow.objects.queries import get_object_for_actor

router = APIRouter(tags=["fields"], dependencies=[Depends(reject_unknown_query)])


@router.get("/fields", response_model=list[schemas.FieldOut])
def list_fields(
    session: DbSession, actor: CurrentActor, entity: FieldEntity | None = None, include_archived: bool = True
) -> list[schemas.FieldOut]:
    rows = list_definitions(session, actor, entity=entity, include_archived=include_archived)
    return [schemas.FieldOut.of(row) for row in rows]


@router.post("/fields", response_model=schemas.FieldOut, status_code=201)
def create_field(body: schemas.FieldCreate, session: DbSession, actor: CurrentActor) -> schemas.FieldOut:
    draft = DefinitionDraft(
        entity=body.entity,
        code=body.code,
        name=body.name,
        type=body.type.value,
        help=body.help,
        sort_order=body.sort_order,
        required=body.required,
        default=body.default,
        validation=body.validation.model_dump(),
        choices=[c.model_dump() for c in body.choices],
        ref_kind=body.ref_kind,
        ticket_type_ids=body.ticket_type_ids,
    )
    return schemas.FieldOut.of(create_definition(session, actor, draft))


@router.get("/fields/{field_id}", response_model=schemas.FieldOut)
def get_field(field_id: int, session: DbSession, actor: CurrentActor) -> schemas.FieldOut:
    return schemas.FieldOut.of(get_definition_for_actor(session, actor, field_id))


@router.patch("/fields/{field_id}", response_model=schemas.FieldOut)
def patch_field(
    field_id: int, body: schemas.FieldUpdate, session: DbSession, actor: CurrentActor
) -> schemas.FieldOut:
    row = get_definition_for_actor(session, actor, field_id)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    row = update_definition(session, actor, row, version=body.version, changes=changes)
    return schemas.FieldOut.of(row)


@router.post("/fields/{field_id}/archive", response_model=schemas.FieldOut)
def archive_field(field_id: int, session: DbSession, actor: CurrentActor) -> schemas.FieldOut:
    """Hide the field from forms and refuse new values; stored values stay (PATCH archived=false undoes)."""
    row = get_definition_for_actor(session, actor, field_id)
    return schemas.FieldOut.of(set_archived(session, actor, row, archived=True))


def _access_out(row: FieldDefinition, cells: list[AccessCell]) -> schemas.AccessOut:
    required = bool(row.spec.get("required"))
    return schemas.AccessOut(
        definition_id=row.id,
        cells=[schemas.CellOut(role_id=c.role_id, stage_id=c.stage_id, level=c.level) for c in cells],
        defaults=schemas.AccessDefaults(
            customer=default_level(staff=False, required=required, cancellation=False),
            staff=default_level(staff=True, required=required, cancellation=False),
            staff_at_cancellation=default_level(staff=True, required=required, cancellation=True),
        ),
    )


@router.get("/fields/{field_id}/access", response_model=schemas.AccessOut)
def get_field_access(field_id: int, session: DbSession, actor: CurrentActor) -> schemas.AccessOut:
    row = get_definition_for_actor(session, actor, field_id)
    return _access_out(row, access_cells(session, actor, row))


@router.put("/fields/{field_id}/access", response_model=schemas.AccessOut)
def put_field_access(
    field_id: int, body: schemas.AccessPut, session: DbSession, actor: CurrentActor
) -> schemas.AccessOut:
    """Replace the explicit cells of the role × stage matrix; cells not given take the defaults."""
    row = get_definition_for_actor(session, actor, field_id)
    cells = [AccessCell(c.role_id, c.stage_id, Level(c.level)) for c in body.cells]
    return _access_out(row, set_access_cells(session, actor, row, cells))


@router.patch("/objects/{object_id}/fields", response_model=schemas.ValuesOut)
def patch_object_fields(
    object_id: int, body: schemas.ValuesPatch, session: DbSession, actor: CurrentActor
) -> schemas.ValuesOut:
    obj = get_object_for_actor(session, actor, object_id)
    return schemas.ValuesOut(fields=update_object_fields(session, actor, obj, body.fields))


@router.get("/companies/{company_id}/fields", response_model=schemas.ValuesOut)
def get_company_fields(company_id: int, session: DbSession, actor: CurrentActor) -> schemas.ValuesOut:
    company = get_company_for_actor(session, actor, company_id)
    return schemas.ValuesOut(fields=entity_values(session, actor, FieldEntity.COMPANY, company.fields))


@router.patch("/companies/{company_id}/fields", response_model=schemas.ValuesOut)
def patch_company_fields(
    company_id: int, body: schemas.ValuesPatch, session: DbSession, actor: CurrentActor
) -> schemas.ValuesOut:
    company = get_company_for_actor(session, actor, company_id)
    return schemas.ValuesOut(fields=update_company_fields(session, actor, company, body.fields))
