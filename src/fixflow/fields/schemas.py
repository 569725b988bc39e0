"""API schemas of additional fields (definitions, access matrix, values of objects and companies)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from fixflow.core.schemas import Input, Output
from fixflow.fields.access import Level
from fixflow.fields.models import FieldDefinition, FieldEntity
from fixflow.fields.types import FieldType

RefKind = Literal["object", "company", "member"]


class ValidationIn(Input):
    """min/max: numbers for integer and decimal fields, ISO strings for date and datetime fields."""

    min: Any = None
    max: Any = None
    max_length: int | None = None
    pattern: str | None = Field(default=None, max_length=500)


class ChoiceIn(Input):
    value: str = Field(max_length=64)
    label: str = Field(max_length=200)


class FieldCreate(Input):
    entity: FieldEntity
    code: str = Field(max_length=63, description="lowercase letters, digits and _; the key of the value")
    name: str = Field(min_length=1, max_length=200)
    type: FieldType
    help: str = Field(default="", max_length=2_000)
    sort_order: int = 0
    required: bool = False
    default: Any = None
    validation: ValidationIn = Field(default_factory=ValidationIn)
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=500)
    ref_kind: RefKind | None = None
    ticket_type_ids: list[int] | None = Field(default=None, description="ticket fields: null = every type")


class FieldUpdate(Input):
    """Only the attributes sent change. `type`, `code` and `ref_kind` are accepted only unchanged."""

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=200)
    help: str | None = Field(default=None, max_length=2_000)
    sort_order: int | None = None
    required: bool | None = None
    default: Any = None
    validation: ValidationIn | None = None
    choices: list[ChoiceIn] | None = Field(default=None, max_length=500)
    ticket_type_ids: list[int] | None = None
    archived: bool | None = None
    type: str | None = None
    code: str | None = None
    ref_kind: str | None = None


class ValidationOut(Output):
    min: Any
    max: Any
    max_length: int | None
    pattern: str | None


class ChoiceOut(Output):
    value: str
    label: str


class FieldOut(Output):
    id: int
    entity: FieldEntity
    code: str
    name: str
    type: FieldType
    help: str
    sort_order: int
    required: bool
    default: Any
    validation: ValidationOut
    choices: list[ChoiceOut]
    ref_kind: str | None
    ticket_type_ids: list[int] | None
    archived: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: FieldDefinition) -> FieldOut:
        spec = row.spec
        return cls(
            id=row.id,
            entity=FieldEntity(row.entity),
            code=row.code,
            name=spec["name"],
            type=FieldType(spec["type"]),
            help=row.help,
            sort_order=row.sort_order,
            required=spec.get("required", False),
            default=spec.get("default"),
            validation=ValidationOut.model_validate(spec.get("validation") or {}),
            choices=[ChoiceOut.model_validate(c) for c in spec.get("choices") or []],
            ref_kind=spec.get("ref_kind"),
            ticket_type_ids=row.ticket_type_ids,
            archived=row.archived,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CellIn(Input):
    role_id: int
    stage_id: int
    level: Level


class AccessPut(Input):
    cells: list[CellIn] = Field(max_length=10_000)


class CellOut(Output):
    role_id: int
    stage_id: int
    level: Level


class AccessDefaults(Output):
    """Levels of the cells not listed (see fixflow.fields.access.default_level)."""

    customer: Level
    staff: Level
    staff_at_cancellation: Level


class AccessOut(Output):
    definition_id: int
    cells: list[CellOut]
    defaults: AccessDefaults


class ValuesPatch(Input):
    fields: dict[str, Any]


class ValuesOut(Output):
    fields: dict[str, Any]
