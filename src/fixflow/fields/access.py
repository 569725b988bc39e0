"""Who may see and write which additional field: definitions plus the role × stage matrix of tickets.

A ticket field's level for a role at a stage is its explicit `FieldAccess` cell, or else the default:

    role is not staff (customers)           → read
    staff, definition not required         → write
    staff, definition required             → required, except at cancellation stages → write

so a field is visible to everyone, written by staff, and a field marked required must be filled by
staff before a ticket moves on (a customer can still cancel). An actor with several roles gets the
most permissive level among them (hidden < read < write < required); an actor with none gets hidden.

A field is required to *enter* a stage when any role's level there is `required` (transitions have no
single role to ask). Objects and companies have no matrix: their fields are visible to whoever sees
the owner and written by staff allowed to manage it.

The loaded configuration is cached per process and tenant configuration version (`load_config`, see
`fixflow.core.configcache`): definitions and matrix cells bump the version when written, so a request
reads it from the database only after a change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, literal, null, select, union_all
from sqlalchemy.orm import Session

from fixflow.accounts.models import Role
from fixflow.core.configcache import config_cached, forget_unit_of_work_memo
from fixflow.fields.models import FieldAccess, FieldDefinition, FieldEntity
from fixflow.fields.types import FieldSpec, spec_from_dict
from fixflow.workflow.models import Stage


class Level(enum.StrEnum):
    HIDDEN = "hidden"
    READ = "read"
    WRITE = "write"
    REQUIRED = "required"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def writable(self) -> bool:
        return self in (Level.WRITE, Level.REQUIRED)


_RANKS = {Level.HIDDEN: 0, Level.READ: 1, Level.WRITE: 2, Level.REQUIRED: 3}


def default_level(*, staff: bool, required: bool, cancellation: bool) -> Level:
    """The level of a cell nobody configured (see the module docstring)."""
    if not staff:
        return Level.READ
    if required and not cancellation:
        return Level.REQUIRED
    return Level.WRITE


@dataclass(frozen=True)
class Definition:
    """A loaded definition, detached from the session so it can be cached for the transaction."""

    id: int
    entity: str
    spec: FieldSpec
    help: str
    ticket_type_ids: frozenset[int] | None
    sort_order: int

    @property
    def code(self) -> str:
        return self.spec.code

    def applies_to(self, ticket_type_id: int) -> bool:
        return self.ticket_type_ids is None or ticket_type_id in self.ticket_type_ids


def definition_from_row(row: FieldDefinition) -> Definition:
    spec = spec_from_dict({**row.spec, "code": row.code, "archived": row.archived})
    return Definition(
        id=row.id,
        entity=row.entity,
        spec=spec,
        help=row.help,
        ticket_type_ids=frozenset(row.ticket_type_ids) if row.ticket_type_ids is not None else None,
        sort_order=row.sort_order,
    )


@dataclass
class FieldConfig:
    """Every definition of one tenant, and for ticket fields the matrix with what its defaults need."""

    tenant_id: int
    definitions: list[Definition]
    cells: dict[tuple[int, int, int], Level] = field(default_factory=dict)
    role_staff: dict[int, bool] = field(default_factory=dict)  # role id → is staff
    cancellation_stages: dict[int, bool] = field(default_factory=dict)  # stage id → is cancellation

    def of(self, entity: FieldEntity) -> list[Definition]:
        return [d for d in self.definitions if d.entity == entity]

    def for_ticket_type(self, ticket_type_id: int) -> list[Definition]:
        return [d for d in self.of(FieldEntity.TICKET) if d.applies_to(ticket_type_id)]

    def role_level(self, definition: Definition, role_id: int, stage_id: int) -> Level:
        explicit = self.cells.get((definition.id, role_id, stage_id))
        if explicit is not None:
            return explicit
        return default_level(
            staff=self.role_staff.get(role_id, False),
            required=definition.spec.required,
            cancellation=self.cancellation_stages.get(stage_id, False),
        )

    def level(self, definition: Definition, role_ids: Iterable[int], stage_id: int) -> Level:
        best = Level.HIDDEN
        for role_id in role_ids:
            if role_id in self.role_staff:
                candidate = self.role_level(definition, role_id, stage_id)
                if candidate.rank > best.rank:
                    best = candidate
        return best

    def required_at(self, definition: Definition, stage_id: int) -> bool:
        return any(
            self.role_level(definition, role_id, stage_id) is Level.REQUIRED for role_id in self.role_staff
        )

    def visible_stages(self, definition: Definition, role_ids: Iterable[int]) -> set[int]:
        roles = list(role_ids)
        return {s for s in self.cancellation_stages if self.level(definition, roles, s) is not Level.HIDDEN}

    @property
    def stage_ids(self) -> set[int]:
        return set(self.cancellation_stages)


def load_config(session: Session, tenant_id: int) -> FieldConfig:
    """The tenant's field configuration (cached per configuration version; treat it as read-only)."""
    return config_cached(session, tenant_id, "fields", lambda: _load(session, tenant_id))


def forget_config(session: Session) -> None:
    forget_unit_of_work_memo(session)


def _load(session: Session, tenant_id: int) -> FieldConfig:
    rows = session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.tenant_id == tenant_id)
        .order_by(FieldDefinition.sort_order, FieldDefinition.id)
    ).all()
    config = FieldConfig(tenant_id=tenant_id, definitions=[definition_from_row(r) for r in rows])
    if not config.of(FieldEntity.TICKET):
        return config  # no matrix to read: a tenant without ticket fields costs one query
    # The matrix and what its defaults need (staff roles, cancellation stages) in one round trip.
    cells = select(
        literal("cell"),
        FieldAccess.definition_id,
        FieldAccess.role_id,
        FieldAccess.stage_id,
        FieldAccess.level,
    ).where(FieldAccess.tenant_id == tenant_id)
    roles = select(literal("role"), Role.id, null(), null(), case((Role.is_staff, "1"), else_="0")).where(
        Role.tenant_id == tenant_id
    )
    stages = select(
        literal("stage"), Stage.id, null(), null(), case((Stage.is_cancellation, "1"), else_="0")
    ).where(Stage.tenant_id == tenant_id)
    for kind, first, role_id, stage_id, value in session.execute(union_all(cells, roles, stages)):
        if kind == "cell":
            config.cells[(int(first), int(role_id), int(stage_id))] = Level(value)
        elif kind == "role":
            config.role_staff[int(first)] = value == "1"
        else:
            config.cancellation_stages[int(first)] = value == "1"
    return config
