"""Reading additional fields: typed API values (reference names and files loaded once), reference
checks, and list filters on `tickets.fields`.

List filters, portable between SQLite (JSON1 functions) and PostgreSQL (JSONB):

- equality and any-of on PostgreSQL are containment, ``fields @> '{"code": value}'`` (multichoice:
  ``'{"code": [value]}'``; any-of is an OR of those), answered by the GIN index
  ``ix_tickets_fields_gin`` (jsonb_path_ops). On SQLite they compare ``json_extract(fields, '$.code')``
  (multichoice: ``EXISTS`` over ``json_each``).
- ranges (integer, decimal, date, datetime) cannot use the GIN index: PostgreSQL compares
  ``(fields->>'code')::numeric`` (guarded by a format check, so another tenant's value of a different
  type can never make the cast fail) or the ISO text under ``COLLATE "C"`` (stored dates and UTC
  datetimes sort chronologically as text); SQLite compares ``json_extract`` (decimals as REAL, exact to
  about 15 digits). A range therefore filters the rows the other list indexes (tenant, open/closed,
  id order) select, which stays cheap while the range is not very selective. For a very selective
  range on a large tenant, add an expression index for that field, e.g.
  ``CREATE INDEX ON tickets (tenant_id, ((fields->>'code')::numeric)) WHERE fields ? 'code'``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Member, MemberCompany, person_name
from fixflow.attachments.models import Attachment
from fixflow.core.errors import NotFound
from fixflow.fields.access import Definition, load_config
from fixflow.fields.models import FieldEntity
from fixflow.fields.types import (
    MAX_SAFE_INTEGER,
    FieldFilter,
    FieldSpec,
    FieldType,
    ScalarValue,
    is_empty,
    to_api,
)
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import visible_objects_predicate
from fixflow.tenants.models import Company, Tenant
from fixflow.tickets.models import Ticket

_NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"


# --- references --------------------------------------------------------------------------------------


def ref_names(
    session: Session, tenant_id: int, refs: Collection[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """Names of referenced objects, companies and members of the tenant, in one query for all kinds."""
    by_kind: dict[str, set[int]] = {}
    for kind, ref_id in refs:
        by_kind.setdefault(kind, set()).add(ref_id)
    parts: list[Any] = []
    if ids := by_kind.get("object"):
        parts.append(
            select(literal("object"), ServiceObject.id, ServiceObject.name, null(), null(), null()).where(
                ServiceObject.id.in_(ids), ServiceObject.tenant_id == tenant_id
            )
        )
    if ids := by_kind.get("company"):
        parts.append(
            select(literal("company"), Company.id, Company.name, null(), null(), null()).where(
                Company.id.in_(ids), Company.tenant_id == tenant_id
            )
        )
    if ids := by_kind.get("member"):
        parts.append(
            select(
                literal("member"), Member.id, null(), Member.last_name, Member.first_name, Member.patronymic
            ).where(Member.id.in_(ids), Member.tenant_id == tenant_id)
        )
    if not parts:
        return {}
    statement: Executable = parts[0] if len(parts) == 1 else union_all(*parts)
    names: dict[tuple[str, int], str] = {}
    for kind, ref_id, name, *person in session.execute(statement):
        if kind == "member":
            name = person_name(int(ref_id), *person)
        names[(str(kind), int(ref_id))] = str(name)
    return names


def _ref_condition(actor: Actor, kind: str) -> tuple[Any, ColumnElement[bool]] | None:
    """The id column and the predicate of what the actor may point a ``ref`` field at."""
    if kind == "object":
        return ServiceObject.id, visible_objects_predicate(actor)
    if kind == "company":
        condition: ColumnElement[bool] = Company.tenant_id == actor.tenant_id
        if not actor.is_staff:
            condition = and_(condition, Company.id.in_(actor.company_ids))
        return Company.id, condition
    if kind == "member":
        condition = and_(Member.tenant_id == actor.tenant_id, Member.deleted_at.is_(None))
        if not actor.is_staff:
            colleagues = select(MemberCompany.member_id).where(
                MemberCompany.company_id.in_(actor.company_ids)
            )
            condition = and_(condition, or_(Member.id == actor.member_id, Member.id.in_(colleagues)))
        return Member.id, condition
    return None


def ref_exists(session: Session, actor: Actor, kind: str, ref_id: int) -> bool:
    """Whether the actor may point a field at this object, company or member (what they can see)."""
    found = _ref_condition(actor, kind)
    if found is None:
        return False
    column, condition = found
    return session.scalar(select(column).where(column == ref_id, condition)) is not None


REF_CHOICES_CAP = 200


def ref_choices(session: Session, actor: Actor, kind: str) -> list[tuple[str, str]] | None:
    """What a form may offer in a select, or None when there are too many to list (type the id)."""
    found = _ref_condition(actor, kind)
    if found is None:
        return None
    column, condition = found
    model = column.class_
    rows = list(session.scalars(select(model).where(condition).order_by(column).limit(REF_CHOICES_CAP + 1)))
    if len(rows) > REF_CHOICES_CAP:
        return None
    names = {"object": "name", "company": "name"}
    return [(str(row.id), getattr(row, names[kind]) if kind in names else row.display_name) for row in rows]


def referenced(specs: Iterable[FieldSpec], documents: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """The (kind, id) pairs the ref fields of some documents point at."""
    refs = [spec for spec in specs if spec.type is FieldType.REF]
    return {
        (spec.ref_kind or "", int(value))
        for document in documents
        for spec in refs
        if isinstance(value := document.get(spec.code), int) and not isinstance(value, bool)
    }


# --- rendering values ---------------------------------------------------------------------------------


def tenant_timezone(session: Session, tenant_id: int) -> str:
    return session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "UTC"


def json_number(value: Decimal) -> int | float | str:
    """A decimal as a JSON number when a client's double holds it exactly, else its exact text."""
    if value == value.to_integral_value() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return format(value, "f")


def file_infos(session: Session, tenant_id: int, ids: Collection[int]) -> dict[int, Attachment]:
    if not ids:
        return {}
    rows = session.scalars(
        select(Attachment).where(Attachment.id.in_(ids), Attachment.tenant_id == tenant_id)
    ).all()
    return {row.id: row for row in rows}


def file_ids(specs: Iterable[FieldSpec], documents: Iterable[Mapping[str, Any]]) -> set[int]:
    files = [spec for spec in specs if spec.type is FieldType.FILE]
    return {
        int(value)
        for document in documents
        for spec in files
        if isinstance(value := document.get(spec.code), int) and not isinstance(value, bool)
    }


@dataclass(frozen=True)
class Lookups:
    """Names of referenced rows and attached files, loaded once for a set of documents."""

    names: dict[tuple[str, int], str]
    files: dict[int, Attachment]

    @classmethod
    def load(
        cls,
        session: Session,
        tenant_id: int,
        specs: Sequence[FieldSpec],
        documents: Sequence[Mapping[str, Any]],
    ) -> Lookups:
        return cls(
            names=ref_names(session, tenant_id, referenced(specs, documents)),
            files=file_infos(session, tenant_id, file_ids(specs, documents)),
        )


def api_value(spec: FieldSpec, stored: Any, lookups: Lookups) -> Any:
    """JSON-ready typed value: numbers as numbers, ISO dates, refs and files as {id, name}."""
    value = to_api(spec, stored, ref_names=lookups.names)
    if isinstance(value, Decimal):
        return json_number(value)
    if spec.type is FieldType.FILE and isinstance(value, dict):
        attachment = lookups.files.get(int(value["id"]))
        return {
            "id": value["id"],
            "name": attachment.filename if attachment else None,
            "content_type": attachment.content_type if attachment else None,
            "size": attachment.size if attachment else None,
        }
    return value


def shown_definitions(definitions: Iterable[Definition], document: Mapping[str, Any]) -> list[Definition]:
    """Live fields always (null when empty); archived ones only while they still hold a value."""
    return [d for d in definitions if not d.spec.archived or not is_empty(document.get(d.code))]


def render_values(
    session: Session, tenant_id: int, definitions: Sequence[Definition], document: Mapping[str, Any]
) -> dict[str, Any]:
    shown = shown_definitions(definitions, document)
    specs = [d.spec for d in shown]
    lookups = Lookups.load(session, tenant_id, specs, [document])
    return {spec.code: api_value(spec, document.get(spec.code), lookups) for spec in specs}


def default_document(session: Session, tenant_id: int, entity: FieldEntity) -> dict[str, Any]:
    """Defaults of the live fields of an entity: what a new object or company should start with."""
    return {
        d.code: d.spec.default
        for d in load_config(session, tenant_id).of(entity)
        if not d.spec.archived and d.spec.default is not None
    }


def get_company_for_actor(session: Session, actor: Actor, company_id: int) -> Company:
    """Staff see every company of the tenant; customers only their own."""
    company = session.scalar(
        select(Company).where(Company.id == company_id, Company.tenant_id == actor.tenant_id)
    )
    if company is None or not (actor.is_staff or company.id in actor.company_ids):
        raise NotFound("Company not found")
    return company


def entity_values(
    session: Session, actor: Actor, entity: FieldEntity, document: Mapping[str, Any]
) -> dict[str, Any]:
    """Typed values of an object or company the caller has checked the actor may see."""
    return render_values(session, actor.tenant_id, load_config(session, actor.tenant_id).of(entity), document)


# --- list filters ------------------------------------------------------------------------------------


def filter_term(dialect: str, spec: FieldSpec, flt: FieldFilter) -> ColumnElement[bool]:
    """The SQL condition of one parsed filter on `Ticket.fields`."""
    if dialect == "postgresql":
        return _postgres_term(spec, flt)
    return _sqlite_term(spec, flt)


def _postgres_term(spec: FieldSpec, flt: FieldFilter) -> ColumnElement[bool]:
    document = type_coerce(Ticket.fields, JSONB)
    many = spec.type is FieldType.MULTICHOICE

    def contains(value: ScalarValue) -> ColumnElement[bool]:
        return document.contains({spec.code: [value] if many else value})

    if flt.op == "eq":
        return contains(flt.value)
    if flt.op == "any":
        return or_(*(contains(v) for v in flt.values)) if flt.values else false()
    text = document[spec.code].astext
    if spec.type in (FieldType.INTEGER, FieldType.DECIMAL):
        number = case((text.regexp_match(_NUMBER_TEXT), cast(text, Numeric)), else_=null())
        return _between(number, _decimal(flt.min), _decimal(flt.max))
    return _between(text.collate("C"), flt.min, flt.max)


def _sqlite_term(spec: FieldSpec, flt: FieldFilter) -> ColumnElement[bool]:
    path = f'$."{spec.code}"'
    if spec.type is FieldType.MULTICHOICE:
        items = func.json_each(Ticket.fields, path).table_valued("value")
        wanted = [flt.value] if flt.op == "eq" else list(flt.values)
        return exists(select(literal(1)).select_from(items).where(items.c.value.in_(wanted)))
    value = func.json_extract(Ticket.fields, path)
    if flt.op == "eq":
        return value == flt.value
    if flt.op == "any":
        return value.in_(list(flt.values))
    if spec.type is FieldType.DECIMAL:
        low, high = _decimal(flt.min), _decimal(flt.max)
        return _between(
            cast(value, Float), None if low is None else float(low), None if high is None else float(high)
        )
    if spec.type is FieldType.INTEGER:
        return _between(value, flt.min, flt.max)
    return _between(cast(value, String), flt.min, flt.max)


def _decimal(bound: ScalarValue) -> Decimal | None:
    return None if bound is None else Decimal(str(bound))


def _between(expr: Any, low: Any, high: Any) -> ColumnElement[bool]:
    terms: list[ColumnElement[bool]] = []
    if low is not None:
        terms.append(expr >= low)
    if high is not None:
        terms.append(expr <= high)
    return and_(*terms)
