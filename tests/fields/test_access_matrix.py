"""The role × stage matrix of ticket fields: defaults, levels, and what each level allows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, fire, make_ticket
from fixflow.accounts.models import Role
from fixflow.core.errors import ValidationFailed
from fixflow.fields.access import Level, default_level, load_config
from fixflow.fields.models import FieldDefinition, FieldEntity
from fixflow.fields.service import AccessCell, DefinitionDraft, create_definition, set_access_cells
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView
from fixflow.tickets.service import update_ticket
from fixflow.workflow.models import Stage


def define(session: Session, world: World, code: str = "note", **kw: Any) -> FieldDefinition:
    draft = DefinitionDraft(entity=FieldEntity.TICKET, code=code, name=code.title(), type="string", **kw)
    return create_definition(session, world.owner.actor, draft)


def ids(session: Session, world: World, model: Any, **names: str) -> dict[str, int]:
    column = model.code if model is Role else model.name
    rows = session.execute(select(column, model.id).where(model.tenant_id == world.tenant_id)).all()
    found = {str(k): int(v) for k, v in rows}
    return {alias: found[name] for alias, name in names.items()}


def set_cells(session: Session, world: World, row: FieldDefinition, *spec: tuple[str, str, Level]) -> None:
    roles = {r.code: r.id for r in session.scalars(select(Role).where(Role.tenant_id == world.tenant_id))}
    stages = {s.name: s.id for s in session.scalars(select(Stage).where(Stage.tenant_id == world.tenant_id))}
    set_access_cells(
        session, world.owner.actor, row, [AccessCell(roles[r], stages[s], level) for r, s, level in spec]
    )


def values(session: Session, world: World, who: str, ticket: Ticket) -> dict[str, Any]:
    return EXTENSIONS.fields.api_values(session, world.people[who].actor, ticket)


def problems(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in caught.value.errors}


def patch(session: Session, world: World, who: str, ticket: Ticket, fields: dict[str, Any]) -> None:
    update_ticket(
        session, world.people[who].actor, ticket, version=ticket.version, changes={"fields": fields}
    )


@pytest.mark.parametrize(
    ("staff", "required", "cancellation", "level"),
    [
        (False, False, False, Level.READ),
        (False, True, False, Level.READ),
        (False, True, True, Level.READ),
        (True, False, False, Level.WRITE),
        (True, False, True, Level.WRITE),
        (True, True, False, Level.REQUIRED),
        (True, True, True, Level.WRITE),
    ],
)
def test_default_level_of_a_missing_cell(
    staff: bool, required: bool, cancellation: bool, level: Level
) -> None:
    assert default_level(staff=staff, required=required, cancellation=cancellation) is level


def test_defaults_resolve_per_builtin_role_and_stage(session: Session, sworld: World) -> None:
    row = define(session, sworld, required=True)
    config = load_config(session, sworld.tenant_id)
    definition = next(d for d in config.of(FieldEntity.TICKET) if d.id == row.id)
    roles = ids(
        session,
        sworld,
        Role,
        owner="owner",
        executor="executor",
        customer="customer",
        cadmin="customer_admin",
    )
    stages = ids(session, sworld, Stage, new="Новая", cancelled="Отказ заказчика")
    assert config.role_level(definition, roles["owner"], stages["new"]) is Level.REQUIRED
    assert config.role_level(definition, roles["executor"], stages["cancelled"]) is Level.WRITE
    assert config.role_level(definition, roles["customer"], stages["new"]) is Level.READ
    assert config.role_level(definition, roles["cadmin"], stages["new"]) is Level.READ
    assert config.required_at(definition, stages["new"]) and not config.required_at(
        definition, stages["cancelled"]
    )
    assert config.level(definition, [], stages["new"]) is Level.HIDDEN  # no role, no access


def test_several_roles_take_the_most_permissive_level(session: Session, sworld: World) -> None:
    row = define(session, sworld)
    set_cells(
        session, sworld, row, ("customer", "Новая", Level.HIDDEN), ("customer_admin", "Новая", Level.WRITE)
    )
    config = load_config(session, sworld.tenant_id)
    definition = next(d for d in config.of(FieldEntity.TICKET) if d.id == row.id)
    roles = ids(session, sworld, Role, customer="customer", cadmin="customer_admin")
    new = ids(session, sworld, Stage, new="Новая")["new"]
    assert config.level(definition, [roles["customer"]], new) is Level.HIDDEN
    assert config.level(definition, [roles["customer"], roles["cadmin"]], new) is Level.WRITE


def test_hidden_is_as_if_the_field_did_not_exist(session: Session, sworld: World) -> None:
    row = define(session, sworld)
    set_cells(session, sworld, row, ("customer", "Новая", Level.HIDDEN))
    ticket = make_ticket(session, sworld)
    patch(session, sworld, "dispatcher", ticket, {"note": "internal"})
    assert values(session, sworld, "customer_a", ticket) == {}
    assert values(session, sworld, "cadmin_a", ticket) == {"note": "internal"}  # another role: read
    assert EXTENSIONS.fields.display_items(session, sworld.customer_a.actor, ticket) == []
    assert EXTENSIONS.fields.form_widgets(session, sworld.customer_a.actor, sworld.type_id, ticket) == []
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, fields={"note": "x"})
    assert problems(caught) == {"fields.note": "Unknown field"}
    # hidden at every stage: filtering by it is refused like an unknown field
    secret = define(session, sworld, "secret")
    stage_names = session.scalars(select(Stage.name).where(Stage.tenant_id == sworld.tenant_id)).all()
    set_cells(session, sworld, secret, *(("customer", name, Level.HIDDEN) for name in stage_names))
    filters = TicketFilters(field_filters={"f.secret": "x"})
    with pytest.raises(ValidationFailed) as caught:
        list_tickets(session, sworld.customer_a.actor, TicketView.ALL, filters)
    assert problems(caught) == {"f.secret": "Unknown field"}
    assert list_tickets(session, sworld.cadmin_a.actor, TicketView.ALL, filters).items == []


def test_read_refuses_changes_but_accepts_the_value_sent_back(session: Session, sworld: World) -> None:
    row = define(session, sworld)
    set_cells(session, sworld, row, ("executor", "Новая", Level.READ))
    ticket = make_ticket(session, sworld, by="dispatcher", fields={"note": "v1"})
    with pytest.raises(ValidationFailed) as caught:
        patch(session, sworld, "executor", ticket, {"note": "v2"})
    assert problems(caught) == {"fields.note": "This field is read-only"}
    patch(session, sworld, "executor", ticket, {"note": " v1 "})  # the form round trip: unchanged
    assert ticket.fields == {"note": "v1"}
    # customers read by default: creating with a value is refused, reading works
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, fields={"note": "mine"})
    assert problems(caught) == {"fields.note": "This field is read-only"}


def test_write_and_required_at_creation_follow_the_creators_role(session: Session, sworld: World) -> None:
    row = define(session, sworld)
    set_cells(
        session, sworld, row, ("customer", "Новая", Level.REQUIRED), ("dispatcher", "Новая", Level.WRITE)
    )
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld)
    assert problems(caught) == {"fields.note": "This field is required"}
    assert make_ticket(session, sworld, fields={"note": "door code 42"}).fields == {"note": "door code 42"}
    assert make_ticket(session, sworld, by="dispatcher").fields == {}  # write, not required, for them
    # the customer's required cell at the start stage does not block others entering other stages
    assert (
        EXTENSIONS.fields.missing_for_stage(
            session,
            make_ticket(session, sworld, by="dispatcher"),
            ids(session, sworld, Stage, s="Назначена")["s"],
        )
        == []
    )


def test_visibility_follows_the_stage_in_payloads_and_filters(session: Session, sworld: World) -> None:
    row = define(session, sworld)
    set_cells(session, sworld, row, ("customer", "Новая", Level.HIDDEN))
    waiting, moved = make_ticket(session, sworld), make_ticket(session, sworld)
    for ticket in (waiting, moved):
        patch(session, sworld, "dispatcher", ticket, {"note": "same"})
    from builders import assign

    assign(session, sworld, moved)
    fire(session, sworld, moved, "dispatcher", "Назначить")
    assert values(session, sworld, "customer_a", waiting) == {}
    assert values(session, sworld, "customer_a", moved) == {"note": "same"}
    filters = TicketFilters(field_filters={"f.note": "same"})
    page = list_tickets(session, sworld.customer_a.actor, TicketView.ALL, filters)
    assert [card.id for card in page.items] == [moved.id]  # the hidden value cannot be probed
    page = list_tickets(session, sworld.dispatcher.actor, TicketView.ALL, filters)
    assert {card.id for card in page.items} == {waiting.id, moved.id}
