"""Writing additional fields: values of objects and companies, definitions and the access matrix.

Ticket values go through `fixflow.fields.extension`, which adds the role × stage matrix on top of the
same `write_values`. Only staff with CONFIG_FIELDS configure definitions; values of objects and
companies are written by staff with OBJECT_MANAGE or CONFIG_FIELDS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Role
from fixflow.accounts.permissions import Permission
from fixflow.attachments.service import bind_field_file, usable_as_field_value
from fixflow.catalogs.models import TicketType
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, Forbidden, NotFound, ValidationFailed, VersionConflict
from fixflow.fields.access import Level, forget_config, load_config
from fixflow.fields.models import FieldAccess, FieldDefinition, FieldEntity
from fixflow.fields.queries import entity_values, ref_exists, tenant_timezone
from fixflow.fields.types import (
    FieldDefinitionError,
    FieldSpec,
    FieldType,
    FieldValueError,
    coerce_document,
    coerce_value,
    missing_required,
    spec_from_dict,
    spec_to_dict,
)
from fixflow.jobs.outbox import emit_event
from fixflow.objects.models import ServiceObject
from fixflow.tenants.models import Company
from fixflow.workflow.models import Stage


@dataclass(frozen=True)
class Owner:
    """The row whose document is written: a file field may hold a file already bound to it."""

    ticket_id: int | None = None
    object_id: int | None = None
    company_id: int | None = None


# --- values shared by every owner ---------------------------------------------------------------------


def problem(error: FieldValueError) -> FieldProblem:
    """A value error as the API reports it, keyed ``fields.<code>``."""
    if error.reason == "required":
        message = "This field is required"
    elif error.reason == "unknown_field":
        message = "Unknown field"
    else:
        message = error.message[:1].upper() + error.message[1:]
    return FieldProblem(f"fields.{error.code}", message)


def write_values(
    session: Session,
    actor: Actor,
    specs: Sequence[FieldSpec],
    raw: Mapping[str, Any],
    existing: Mapping[str, Any],
    *,
    owner: Owner,
) -> tuple[dict[str, Any], list[FieldValueError]]:
    """`coerce_document` with references checked against what the actor can see.

    Naive datetimes (HTML forms) are read in the tenant's time zone.
    """
    by_code = {spec.code: spec for spec in specs}
    needs_tz = any(by_code[c].type is FieldType.DATETIME for c in raw if c in by_code)
    return coerce_document(
        specs,
        raw,
        existing=existing,
        resolve_ref=lambda kind, ref_id: ref_exists(session, actor, kind, ref_id),
        resolve_file=lambda attachment_id: usable_as_field_value(
            session,
            actor,
            attachment_id,
            ticket_id=owner.ticket_id,
            object_id=owner.object_id,
            company_id=owner.company_id,
        ),
        tz=tenant_timezone(session, actor.tenant_id) if needs_tz else None,
    )


def new_files(
    specs: Iterable[FieldSpec], before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, int]]:
    """(code, attachment id) of file values that a write has just set."""
    return [
        (spec.code, int(after[spec.code]))
        for spec in specs
        if spec.type is FieldType.FILE
        and after.get(spec.code) is not None
        and after.get(spec.code) != before.get(spec.code)
    ]


# --- objects and companies ----------------------------------------------------------------------------


def update_object_fields(
    session: Session, actor: Actor, obj: ServiceObject, raw: Mapping[str, Any]
) -> dict[str, Any]:
    document = _update_owner_fields(
        session, actor, FieldEntity.OBJECT, obj.fields, raw, Owner(object_id=obj.id)
    )
    obj.fields = document
    session.flush()
    return entity_values(session, actor, FieldEntity.OBJECT, document)


def update_company_fields(
    session: Session, actor: Actor, company: Company, raw: Mapping[str, Any]
) -> dict[str, Any]:
    document = _update_owner_fields(
        session, actor, FieldEntity.COMPANY, company.fields, raw, Owner(company_id=company.id)
    )
    company.fields = document
    session.flush()
    return entity_values(session, actor, FieldEntity.COMPANY, document)


def _update_owner_fields(
    session: Session,
    actor: Actor,
    entity: FieldEntity,
    existing: Mapping[str, Any],
    raw: Mapping[str, Any],
    owner: Owner,
) -> dict[str, Any]:
    if not actor.is_staff or not (actor.can(Permission.OBJECT_MANAGE) or actor.can(Permission.CONFIG_FIELDS)):
        raise Forbidden("You may not edit these fields")
    definitions = load_config(session, actor.tenant_id).of(entity)
    specs = [d.spec for d in definitions]
    document, errors = write_values(session, actor, specs, raw, existing, owner=owner)
    failed = {e.code for e in errors}
    errors += [
        e for e in missing_required([s for s in specs if s.required], document) if e.code not in failed
    ]
    if errors:
        raise ValidationFailed("Invalid input", errors=[problem(e) for e in errors])
    for code, attachment_id in new_files(specs, existing, document):
        bind_field_file(
            session, attachment_id, field_code=code, object_id=owner.object_id, company_id=owner.company_id
        )
    changed = sorted(c for c in set(existing) | set(document) if existing.get(c) != document.get(c))
    if changed:
        emit_event(
            session,
            tenant_id=actor.tenant_id,
            kind=f"{entity.value}.fields_changed",
            actor_id=actor.member_id,
            payload={"id": owner.object_id or owner.company_id, "codes": changed},
        )
    return document


# --- definitions ---------------------------------------------------------------------------------------


@dataclass
class DefinitionDraft:
    entity: FieldEntity
    code: str
    name: str
    type: str
    help: str = ""
    sort_order: int = 0
    required: bool = False
    default: Any = None
    validation: dict[str, Any] = field(default_factory=dict)
    choices: list[dict[str, Any]] = field(default_factory=list)
    ref_kind: str | None = None
    ticket_type_ids: list[int] | None = None


# What PATCH may change inside the stored spec; type, code and ref_kind decide what stored values mean.
_SPEC_CHANGES = ("name", "required", "default", "choices")
_FROZEN = {
    "type": "The type of a field cannot change",
    "code": "The code of a field cannot change",
    "ref_kind": "What a reference field points to cannot change",
}


def _require_config(actor: Actor) -> None:
    if not actor.can(Permission.CONFIG_FIELDS):
        raise Forbidden("You may not configure fields")


def list_definitions(
    session: Session, actor: Actor, *, entity: FieldEntity | None = None, include_archived: bool = True
) -> list[FieldDefinition]:
    _require_config(actor)
    stmt = select(FieldDefinition).where(FieldDefinition.tenant_id == actor.tenant_id)
    if entity is not None:
        stmt = stmt.where(FieldDefinition.entity == entity.value)
    if not include_archived:
        stmt = stmt.where(FieldDefinition.archived.is_(False))
    order = (FieldDefinition.entity, FieldDefinition.sort_order, FieldDefinition.id)
    return list(session.scalars(stmt.order_by(*order)))


def get_definition_for_actor(session: Session, actor: Actor, definition_id: int) -> FieldDefinition:
    """404 for another tenant's id, then 403 for members who may not configure fields."""
    row = session.scalar(
        select(FieldDefinition).where(
            FieldDefinition.id == definition_id, FieldDefinition.tenant_id == actor.tenant_id
        )
    )
    if row is None:
        raise NotFound("Field not found")
    _require_config(actor)
    return row


def _checked_spec(data: Mapping[str, Any]) -> FieldSpec:
    try:
        return spec_from_dict(data)
    except FieldDefinitionError as exc:
        raise ValidationFailed(
            "Invalid input", errors=[FieldProblem(exc.attribute or "body", exc.message)]
        ) from None


def _stored_default(data: Mapping[str, Any], raw: Any) -> Any:
    """The stored form of a default given as the API would take a value (e.g. 2.5 for a decimal)."""
    if raw is None:
        return None
    probe = _checked_spec({**data, "default": None})
    try:
        return coerce_value(probe, raw)
    except FieldValueError as exc:
        raise ValidationFailed(
            "Invalid input", errors=[FieldProblem("default", problem(exc).message)]
        ) from None


def _checked_types(
    session: Session, actor: Actor, entity: str, ticket_type_ids: list[int] | None
) -> list[int] | None:
    if ticket_type_ids is None:
        return None
    if entity != FieldEntity.TICKET:
        raise ValidationFailed(
            "Invalid input", errors=[FieldProblem("ticket_type_ids", "Only ticket fields have ticket types")]
        )
    wanted = sorted(set(ticket_type_ids))
    known = set(
        session.scalars(
            select(TicketType.id).where(TicketType.id.in_(wanted), TicketType.tenant_id == actor.tenant_id)
        )
    )
    if known != set(wanted):
        raise ValidationFailed(
            "Invalid input", errors=[FieldProblem("ticket_type_ids", "Unknown ticket type")]
        )
    return wanted


def create_definition(session: Session, actor: Actor, draft: DefinitionDraft) -> FieldDefinition:
    _require_config(actor)
    data = {
        "code": draft.code,
        "name": draft.name,
        "type": draft.type,
        "required": draft.required,
        "validation": draft.validation,
        "choices": draft.choices,
        "ref_kind": draft.ref_kind,
    }
    spec = _checked_spec({**data, "default": _stored_default(data, draft.default)})
    type_ids = _checked_types(session, actor, draft.entity, draft.ticket_type_ids)
    taken = session.scalar(
        select(FieldDefinition.id).where(
            FieldDefinition.tenant_id == actor.tenant_id,
            FieldDefinition.entity == draft.entity.value,
            FieldDefinition.code == spec.code,
        )
    )
    if taken is not None:
        raise ValidationFailed("Invalid input", errors=[FieldProblem("code", "This code is already used")])
    now = utcnow()
    row = FieldDefinition(
        tenant_id=actor.tenant_id,
        entity=draft.entity.value,
        code=spec.code,
        spec=spec_to_dict(spec),
        help=draft.help,
        ticket_type_ids=type_ids,
        sort_order=draft.sort_order,
        archived=False,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(row)
    session.flush()
    forget_config(session)
    return row


def update_definition(
    session: Session, actor: Actor, row: FieldDefinition, *, version: int, changes: Mapping[str, Any]
) -> FieldDefinition:
    """PATCH: name, help, order, required, default, validation, choices, ticket types, archived.

    Stored values are never rewritten: a value that no longer fits (a removed choice, a lowered max)
    stays until someone edits it, and is then checked against the new definition.
    """
    _require_config(actor)
    if row.version != version:
        raise VersionConflict(
            "The field was changed by someone else. Reload it and try again.", current_version=row.version
        )
    frozen = [
        FieldProblem(name, message)
        for name, message in _FROZEN.items()
        if name in changes and changes[name] != row.spec.get(name)
    ]
    if frozen:
        raise ValidationFailed("Invalid input", errors=frozen)
    data = {**row.spec, "code": row.code, "archived": changes.get("archived", row.archived)}
    data.update({name: changes[name] for name in _SPEC_CHANGES if name in changes})
    if "validation" in changes:
        data["validation"] = {**(row.spec.get("validation") or {}), **(changes["validation"] or {})}
    if "default" in changes:
        data["default"] = _stored_default(data, changes["default"])
    spec = _checked_spec(data)
    if "ticket_type_ids" in changes:
        row.ticket_type_ids = _checked_types(session, actor, row.entity, changes["ticket_type_ids"])
    if "help" in changes:
        row.help = changes["help"]
    if "sort_order" in changes:
        row.sort_order = changes["sort_order"]
    row.spec = spec_to_dict(spec)
    row.archived = spec.archived
    row.version += 1
    row.updated_at = utcnow()
    session.flush()
    forget_config(session)
    return row


def set_archived(session: Session, actor: Actor, row: FieldDefinition, *, archived: bool) -> FieldDefinition:
    """Archiving hides a field from forms and refuses new values; the stored values stay."""
    return update_definition(session, actor, row, version=row.version, changes={"archived": archived})


# --- the access matrix of ticket fields -----------------------------------------------------------------


@dataclass(frozen=True)
class AccessCell:
    role_id: int
    stage_id: int
    level: Level


def access_cells(session: Session, actor: Actor, row: FieldDefinition) -> list[AccessCell]:
    """The explicit cells; every other (role, stage) takes `fixflow.fields.access.default_level`."""
    _require_config(actor)
    rows = session.execute(
        select(FieldAccess.role_id, FieldAccess.stage_id, FieldAccess.level)
        .where(FieldAccess.definition_id == row.id)
        .order_by(FieldAccess.role_id, FieldAccess.stage_id)
    ).all()
    return [AccessCell(r.role_id, r.stage_id, Level(r.level)) for r in rows]


def set_access_cells(
    session: Session, actor: Actor, row: FieldDefinition, cells: Sequence[AccessCell]
) -> list[AccessCell]:
    """Replace the explicit cells of a ticket field's matrix."""
    _require_config(actor)
    if row.entity != FieldEntity.TICKET:
        raise ValidationFailed("Only ticket fields have an access matrix")
    problems = _cell_problems(session, actor, cells)
    if problems:
        raise ValidationFailed("Invalid input", errors=problems)
    session.execute(delete(FieldAccess).where(FieldAccess.definition_id == row.id))
    session.add_all(
        FieldAccess(
            tenant_id=actor.tenant_id,
            definition_id=row.id,
            role_id=cell.role_id,
            stage_id=cell.stage_id,
            level=cell.level.value,
        )
        for cell in cells
    )
    row.version += 1
    row.updated_at = utcnow()
    session.flush()
    forget_config(session)
    return access_cells(session, actor, row)


def _cell_problems(session: Session, actor: Actor, cells: Sequence[AccessCell]) -> list[FieldProblem]:
    roles = set(session.scalars(select(Role.id).where(Role.tenant_id == actor.tenant_id)))
    stages = set(session.scalars(select(Stage.id).where(Stage.tenant_id == actor.tenant_id)))
    problems: list[FieldProblem] = []
    seen: set[tuple[int, int]] = set()
    for index, cell in enumerate(cells):
        if cell.role_id not in roles:
            problems.append(FieldProblem(f"cells.{index}.role_id", "Unknown role"))
        if cell.stage_id not in stages:
            problems.append(FieldProblem(f"cells.{index}.stage_id", "Unknown stage"))
        if (cell.role_id, cell.stage_id) in seen:
            problems.append(FieldProblem(f"cells.{index}", "This role and stage are given twice"))
        seen.add((cell.role_id, cell.stage_id))
    return problems
