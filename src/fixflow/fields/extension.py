"""Additional fields of tickets: the `TicketFieldsExtension` the ticket services call.

Every check goes through the role × stage matrix of `fixflow.fields.access`: a field hidden from the
actor at the ticket's stage behaves as if it did not exist (unknown in writes and filters, absent from
payloads); a read field refuses changes; required cells must be filled at creation (the creator's own
level at the start stage) and before a ticket enters their stage (any role's level there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, event, select
from sqlalchemy.orm import Session, UOWTransaction

from fixflow.accounts.actor import Actor
from fixflow.attachments.models import Attachment
from fixflow.catalogs.models import TicketType
from fixflow.core.errors import FieldProblem, ValidationFailed
from fixflow.fields.access import Definition, FieldConfig, Level, load_config
from fixflow.fields.models import FieldEntity
from fixflow.fields.queries import (
    Lookups,
    api_value,
    filter_term,
    ref_choices,
    render_values,
    tenant_timezone,
)
from fixflow.fields.service import Owner, new_files, problem, write_values
from fixflow.fields.types import (
    FieldSpec,
    FieldType,
    FieldValueError,
    coerce_value,
    is_empty,
    missing_required,
    parse_field_filters,
)
from fixflow.tickets.models import Ticket
from fixflow.workflow.models import Stage

PENDING_FILES = "fixflow.fields.pending_files"


def _unknown(code: str) -> FieldProblem:
    return FieldProblem(f"fields.{code}", "Unknown field")


def _levels(
    config: FieldConfig, definitions: Sequence[Definition], actor: Actor, stage_id: int
) -> dict[int, Level]:
    return {d.id: config.level(d, actor.role_ids, stage_id) for d in definitions}


def _same(spec: FieldSpec, raw: object, stored: object) -> bool:
    """A read-only value sent back unchanged (a form round trip) is not a write."""
    try:
        return coerce_value(spec, raw) == stored
    except FieldValueError:
        return False


class TicketFields:
    def validate_create(
        self, session: Session, actor: Actor, ticket_type_id: int, start_stage_id: int, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        config = load_config(session, actor.tenant_id)
        definitions = config.for_ticket_type(ticket_type_id)
        if not definitions:
            return {}, [_unknown(code) for code in raw]
        defaults = {
            d.code: d.spec.default
            for d in definitions
            if not d.spec.archived and d.spec.default is not None and d.code not in raw
        }
        levels = _levels(config, definitions, actor, start_stage_id)
        return _write(session, actor, definitions, levels, raw, defaults, owner=Owner(), creating=True)

    def validate_update(
        self, session: Session, actor: Actor, ticket: Ticket, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        config = load_config(session, actor.tenant_id)
        definitions = config.for_ticket_type(ticket.type_id)
        levels = _levels(config, definitions, actor, ticket.stage_id)
        owner = Owner(ticket_id=ticket.id)
        return _write(session, actor, definitions, levels, raw, ticket.fields, owner=owner, creating=False)

    def missing_for_stage(self, session: Session, ticket: Ticket, to_stage_id: int) -> list[str]:
        config = load_config(session, ticket.tenant_id)
        return [
            d.spec.name
            for d in config.for_ticket_type(ticket.type_id)
            if not d.spec.archived
            and is_empty(ticket.fields.get(d.code))
            and config.required_at(d, to_stage_id)
        ]

    def api_values(self, session: Session, actor: Actor, ticket: Ticket) -> dict[str, Any]:
        config = load_config(session, actor.tenant_id)
        return render_values(session, actor.tenant_id, _visible(config, actor, ticket), ticket.fields)

    def filter_terms(self, session: Session, actor: Actor, raw: dict[str, str]) -> list[ColumnElement[bool]]:
        """Filters on fields the actor can see at some stage, limited to the tickets in those stages."""
        config = load_config(session, actor.tenant_id)
        specs: dict[str, FieldSpec] = {}
        limits: dict[str, set[int]] = {}
        for definition in config.of(FieldEntity.TICKET):
            stages = config.visible_stages(definition, actor.role_ids)
            if stages:
                specs[definition.code] = definition.spec
                if stages != config.stage_ids:
                    limits[definition.code] = stages
        wanted = {key[2:].split("__", 1)[0] for key in raw}
        needs_tz = any(specs[c].type is FieldType.DATETIME for c in wanted if c in specs)
        try:
            filters = parse_field_filters(
                raw, list(specs.values()), tz=tenant_timezone(session, actor.tenant_id) if needs_tz else None
            )
        except FieldValueError as exc:
            raise _filter_error(exc) from None
        dialect = session.get_bind().dialect.name
        terms: list[ColumnElement[bool]] = []
        for flt in filters:
            term = filter_term(dialect, specs[flt.code], flt)
            if flt.code in limits:
                term = and_(term, Ticket.stage_id.in_(sorted(limits[flt.code])))
            terms.append(term)
        return terms

    def form_widgets(
        self, session: Session, actor: Actor, ticket_type_id: int, ticket: Ticket | None
    ) -> list[dict[str, Any]]:
        config = load_config(session, actor.tenant_id)
        definitions = [d for d in config.for_ticket_type(ticket_type_id) if not d.spec.archived]
        if not definitions:
            return []
        if ticket is None:
            stage_id = _start_stage_id(session, ticket_type_id)
            values = {d.code: d.spec.default for d in definitions}
        else:
            stage_id, values = ticket.stage_id, ticket.fields
        widgets = []
        for definition in definitions:
            level = config.level(definition, actor.role_ids, stage_id) if stage_id else Level.HIDDEN
            value = values.get(definition.code)
            if level is Level.HIDDEN or (ticket is None and level is Level.READ and value is None):
                continue
            widget = _widget(definition, level, value)
            if definition.spec.type is FieldType.REF and level is not Level.READ and definition.spec.ref_kind:
                # A select of what the actor may reference; None (too many) leaves an id input.
                widget["choices"] = ref_choices(session, actor, definition.spec.ref_kind) or []
            widgets.append(widget)
        return widgets

    def display_items(self, session: Session, actor: Actor, ticket: Ticket) -> list[dict[str, Any]]:
        shown = [
            d
            for d in _visible(load_config(session, actor.tenant_id), actor, ticket)
            if not is_empty(ticket.fields.get(d.code))
        ]
        if not shown:
            return []
        specs = [d.spec for d in shown]
        lookups = Lookups.load(session, actor.tenant_id, specs, [ticket.fields])
        needs_tz = any(spec.type is FieldType.DATETIME for spec in specs)
        tz = tenant_timezone(session, actor.tenant_id) if needs_tz else "UTC"
        english = (actor.locale or "ru") == "en"
        return [
            {
                "code": spec.code,
                "name": spec.name,
                "type": spec.type.value,
                "text": display_text(spec, ticket.fields[spec.code], lookups, english=english, tz=tz),
                "value": api_value(spec, ticket.fields[spec.code], lookups),
            }
            for spec in specs
        ]


def _visible(config: FieldConfig, actor: Actor, ticket: Ticket) -> list[Definition]:
    return [
        d
        for d in config.for_ticket_type(ticket.type_id)
        if config.level(d, actor.role_ids, ticket.stage_id) is not Level.HIDDEN
    ]


def _write(
    session: Session,
    actor: Actor,
    definitions: Sequence[Definition],
    levels: Mapping[int, Level],
    raw: Mapping[str, Any],
    existing: Mapping[str, Any],
    *,
    owner: Owner,
    creating: bool,
) -> tuple[dict[str, Any], list[FieldProblem]]:
    shown = {d.code: d for d in definitions if levels[d.id] is not Level.HIDDEN}
    problems: list[FieldProblem] = []
    accepted: dict[str, Any] = {}
    for code, value in raw.items():
        definition = shown.get(code)
        if definition is None:
            problems.append(_unknown(code))
        elif levels[definition.id].writable:
            accepted[code] = value
        elif not _same(definition.spec, value, existing.get(code)):
            problems.append(FieldProblem(f"fields.{code}", "This field is read-only"))
    writable = [d.spec for d in shown.values() if levels[d.id].writable]
    document, errors = write_values(session, actor, writable, accepted, existing, owner=owner)
    # At creation every required cell counts; later only the values being changed (clearing one).
    required = [
        d.spec for d in shown.values() if levels[d.id] is Level.REQUIRED and (creating or d.code in accepted)
    ]
    failed = {e.code for e in errors}
    errors += [e for e in missing_required(required, document) if e.code not in failed]
    problems += [problem(e) for e in errors]
    if problems:
        return dict(existing), problems
    pending = session.info.setdefault(PENDING_FILES, [])
    pending.extend(
        (code, file_id, actor.member_id) for code, file_id in new_files(writable, existing, document)
    )
    return document, []


def bind_pending_files(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Bind files accepted as field values to the ticket that now holds them, in the same flush.

    At creation the ticket has no id yet when its values are validated, so the binding waits for the
    flush that inserts it (a `before_flush` listener, installed by `fixflow.fields.tasks`).
    """
    pending: list[tuple[str, int, int]] = session.info.get(PENDING_FILES) or []
    if not pending:
        return
    tickets = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Ticket)]
    remaining = []
    for code, file_id, member_id in pending:
        ticket = next((t for t in tickets if t.fields.get(code) == file_id), None)
        if ticket is None:
            remaining.append((code, file_id, member_id))
            continue
        attachment = session.get(Attachment, file_id)
        if (
            attachment is not None
            and not attachment.is_bound
            and attachment.uploaded_by == member_id
            and attachment.tenant_id == ticket.tenant_id
        ):
            attachment.ticket = ticket
            attachment.field_code = code
    session.info[PENDING_FILES] = remaining


def install_file_binding() -> None:
    if not event.contains(Session, "before_flush", bind_pending_files):
        event.listen(Session, "before_flush", bind_pending_files)


def _filter_error(exc: FieldValueError) -> ValidationFailed:
    name = f"f.{exc.code}"
    if exc.reason == "unknown_field":
        return ValidationFailed(
            "Unknown field filter: {names}", names=name, errors=[FieldProblem(name, "Unknown field")]
        )
    return ValidationFailed("Invalid field filter", errors=[FieldProblem(name, problem(exc).message)])


def _start_stage_id(session: Session, ticket_type_id: int) -> int | None:
    return session.scalar(
        select(Stage.id)
        .join(TicketType, TicketType.lifecycle_id == Stage.lifecycle_id)
        .where(TicketType.id == ticket_type_id, Stage.is_start.is_(True))
    )


def _widget(definition: Definition, level: Level, value: Any) -> dict[str, Any]:
    spec = definition.spec

    def shown(bound: object) -> object:
        return str(bound) if bound is not None and spec.type is FieldType.DECIMAL else bound

    return {
        "code": spec.code,
        "name": spec.name,
        "type": spec.type.value,
        "required": level is Level.REQUIRED,
        "help": definition.help,
        "choices": list(spec.choices),
        "value": value,
        "readonly": level is Level.READ,
        "min": shown(spec.min_value),
        "max": shown(spec.max_value),
        "max_length": spec.max_length,
        "pattern": spec.pattern,
        "ref_kind": spec.ref_kind,
    }


def display_text(spec: FieldSpec, stored: Any, lookups: Lookups, *, english: bool, tz: str) -> str:
    """A stored value as people read it in the ticket profile."""
    labels = dict(spec.choices)
    match spec.type:
        case FieldType.BOOLEAN:
            yes, no = ("Yes", "No") if english else ("Да", "Нет")
            return yes if stored else no
        case FieldType.DATE:
            day = dt.date.fromisoformat(str(stored))
            return day.isoformat() if english else day.strftime("%d.%m.%Y")
        case FieldType.DATETIME:
            moment = dt.datetime.fromisoformat(str(stored)).astimezone(ZoneInfo(tz))
            return moment.strftime("%Y-%m-%d %H:%M" if english else "%d.%m.%Y %H:%M")
        case FieldType.CHOICE:
            return labels.get(str(stored), str(stored))
        case FieldType.MULTICHOICE:
            return ", ".join(labels.get(v, v) for v in stored)
        case FieldType.REF:
            return lookups.names.get((spec.ref_kind or "", int(stored))) or f"#{stored}"
        case FieldType.FILE:
            attachment = lookups.files.get(int(stored))
            return attachment.filename if attachment else f"#{stored}"
        case _:
            return str(stored)
