"""Additional fields through the services: definitions, ticket values, stage requirements, list
filters (SQLite and PostgreSQL), objects and companies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, assign, fire, make_ticket, ticket_in_stage
from fixflow.accounts.models import Role
from fixflow.core.errors import Forbidden, NotFound, RequirementNotMet, ValidationFailed, VersionConflict
from fixflow.fields.access import Level
from fixflow.fields.models import FieldDefinition, FieldEntity
from fixflow.fields.queries import default_document, entity_values, get_company_for_actor, json_number
from fixflow.fields.service import (
    AccessCell,
    DefinitionDraft,
    create_definition,
    set_access_cells,
    set_archived,
    update_company_fields,
    update_definition,
    update_object_fields,
)
from fixflow.objects.models import ServiceObject
from fixflow.tenants.models import Company
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView
from fixflow.tickets.service import update_ticket
from fixflow.workflow.models import Stage

CHOICES = [{"value": "low", "label": "Низкий"}, {"value": "high", "label": "Высокий"}]


def define(session: Session, world: World, code: str, type_: str, **kw: Any) -> FieldDefinition:
    entity = kw.pop("entity", FieldEntity.TICKET)
    if type_ in ("choice", "multichoice"):
        kw.setdefault("choices", CHOICES)
    if type_ == "ref":
        kw.setdefault("ref_kind", "company")
    draft = DefinitionDraft(entity=entity, code=code, name=kw.pop("name", code.title()), type=type_, **kw)
    return create_definition(session, world.owner.actor, draft)


def role_id(session: Session, world: World, code: str) -> int:
    found = session.scalar(select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == code))
    assert found is not None
    return int(found)


def stage_id(session: Session, world: World, name: str) -> int:
    found = session.scalar(select(Stage.id).where(Stage.tenant_id == world.tenant_id, Stage.name == name))
    assert found is not None
    return int(found)


def cells(session: Session, world: World, row: FieldDefinition, *spec: tuple[str, str, Level]) -> None:
    set_access_cells(
        session,
        world.owner.actor,
        row,
        [AccessCell(role_id(session, world, r), stage_id(session, world, s), level) for r, s, level in spec],
    )


def problems_of(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {p.field: p.message for p in caught.value.errors}


def fields_of(session: Session, world: World, ticket: Ticket, who: str = "dispatcher") -> dict[str, Any]:
    return EXTENSIONS.fields.api_values(session, world.people[who].actor, ticket)


# --- definitions ---------------------------------------------------------------------------------------


def test_definition_is_stored_as_validated_spec(session: Session, sworld: World) -> None:
    row = define(session, sworld, "area", "decimal", default=2.5, validation={"min": 0, "max": "1000.5"})
    assert row.spec["default"] == "2.5"  # stored form, given as a JSON number
    assert row.spec["validation"]["max"] == "1000.5"
    assert (row.code, row.entity, row.version, row.archived) == ("area", "ticket", 1, False)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"code": "Bad Code"}, "code"),
        ({"choices": []}, "choices"),
        ({"validation": {"min": 5, "max": 1}}, "validation"),
        ({"default": "nope"}, "default"),
    ],
)
def test_invalid_definitions_are_refused(
    session: Session, sworld: World, kw: dict[str, Any], field: str
) -> None:
    code = kw.pop("code", "level")
    type_ = "choice" if "choices" in kw or "default" in kw else "integer"
    with pytest.raises(ValidationFailed) as caught:
        define(session, sworld, code, type_, **kw)
    assert field in problems_of(caught)


def test_code_is_unique_per_entity_and_ticket_types_are_checked(session: Session, sworld: World) -> None:
    define(session, sworld, "serial", "string")
    with pytest.raises(ValidationFailed) as caught:
        define(session, sworld, "serial", "integer")
    assert "code" in problems_of(caught)
    define(session, sworld, "serial", "string", entity=FieldEntity.OBJECT)  # another entity: fine
    with pytest.raises(ValidationFailed) as caught:
        define(session, sworld, "other", "string", ticket_type_ids=[2_000_000_000])
    assert "ticket_type_ids" in problems_of(caught)


def test_only_config_fields_may_define(session: Session, sworld: World) -> None:
    draft = DefinitionDraft(entity=FieldEntity.TICKET, code="x", name="X", type="string")
    for who in ("dispatcher", "executor", "customer_a"):
        with pytest.raises(Forbidden):
            create_definition(session, sworld.people[who].actor, draft)


def test_type_code_and_ref_kind_cannot_change(session: Session, sworld: World) -> None:
    row = define(session, sworld, "owner_company", "ref")
    for change in ({"type": "string"}, {"code": "renamed"}, {"ref_kind": "member"}):
        with pytest.raises(ValidationFailed) as caught:
            update_definition(session, sworld.owner.actor, row, version=row.version, changes=change)
        assert set(problems_of(caught)) == set(change)
    same = update_definition(
        session, sworld.owner.actor, row, version=1, changes={"type": "ref", "name": "Co"}
    )
    assert (same.spec["name"], same.version) == ("Co", 2)
    with pytest.raises(VersionConflict):
        update_definition(session, sworld.owner.actor, row, version=1, changes={"name": "stale"})


def test_patch_merges_validation_and_keeps_the_rest(session: Session, sworld: World) -> None:
    row = define(session, sworld, "floors", "integer", validation={"min": 1, "max": 50}, help="h")
    update_definition(session, sworld.owner.actor, row, version=1, changes={"validation": {"max": 90}})
    assert row.spec["validation"]["min"] == 1 and row.spec["validation"]["max"] == 90
    assert row.help == "h"


# --- ticket values -------------------------------------------------------------------------------------


def test_values_are_typed_at_creation_and_defaults_apply(session: Session, sworld: World) -> None:
    define(session, sworld, "floor", "integer")
    define(session, sworld, "cost", "decimal")
    define(session, sworld, "due", "date")
    define(session, sworld, "visit", "datetime")
    define(session, sworld, "urgent", "boolean", default=False)
    define(session, sworld, "kind", "choice", default="low")
    ticket = make_ticket(
        session,
        sworld,
        by="dispatcher",
        fields={"floor": "7", "cost": "12.50", "due": "2027-01-31", "visit": "2027-01-31T10:00:00+03:00"},
    )
    assert ticket.fields == {
        "floor": 7,
        "cost": "12.5",
        "due": "2027-01-31",
        "visit": "2027-01-31T07:00:00+00:00",
        "urgent": False,
        "kind": "low",
    }
    values = fields_of(session, sworld, ticket)
    assert values["floor"] == 7 and values["cost"] == 12.5 and values["urgent"] is False


def test_naive_datetimes_are_read_in_the_tenant_time_zone(session: Session, sworld: World) -> None:
    define(session, sworld, "visit", "datetime")
    ticket = make_ticket(session, sworld, by="dispatcher", fields={"visit": "2027-01-31T10:00"})
    assert ticket.fields["visit"] == "2027-01-31T07:00:00+00:00"  # Europe/Moscow


def test_decimals_leave_as_exact_json_numbers() -> None:
    from decimal import Decimal

    assert json_number(Decimal("12.5")) == 12.5
    assert json_number(Decimal("100")) == 100 and isinstance(json_number(Decimal("100")), int)
    assert json_number(Decimal("0.1")) == 0.1
    assert json_number(Decimal("12345678901234567890.123")) == "12345678901234567890.123"


def test_invalid_values_are_reported_per_field(session: Session, sworld: World) -> None:
    define(session, sworld, "floor", "integer", validation={"max": 100})
    define(session, sworld, "kind", "choice")
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, by="dispatcher", fields={"floor": 101, "kind": "nope", "ghost": 1})
    assert problems_of(caught) == {
        "fields.floor": "Must be at most 100",
        "fields.kind": "Is not one of the choices",
        "fields.ghost": "Unknown field",
    }


def test_fields_apply_per_ticket_type(session: Session, sworld: World) -> None:
    define(session, sworld, "elsewhere", "string", ticket_type_ids=[sworld.type_id])
    ticket = make_ticket(session, sworld, by="dispatcher", fields={"elsewhere": "yes"})
    assert ticket.fields == {"elsewhere": "yes"}
    row = session.scalar(
        select(FieldDefinition).where(
            FieldDefinition.code == "elsewhere", FieldDefinition.tenant_id == sworld.tenant_id
        )
    )
    assert row is not None
    update_definition(session, sworld.owner.actor, row, version=row.version, changes={"ticket_type_ids": []})
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, by="dispatcher", fields={"elsewhere": "again"})
    assert problems_of(caught) == {"fields.elsewhere": "Unknown field"}


def test_update_records_history_and_refs_are_named_in_one_query(
    session: Session, sworld: World, count_queries: Any
) -> None:
    define(session, sworld, "client", "ref", ref_kind="company")
    define(session, sworld, "site", "ref", ref_kind="object")
    define(session, sworld, "engineer", "ref", ref_kind="member")
    ticket = make_ticket(session, sworld, by="dispatcher")
    changes = {"fields": {"client": sworld.company_b, "site": sworld.site_b, "engineer": sworld.executor.id}}
    update_ticket(session, sworld.dispatcher.actor, ticket, version=ticket.version, changes=changes)
    from fixflow.tickets.models import TicketHistory

    rows = session.scalars(
        select(TicketHistory).where(
            TicketHistory.ticket_id == ticket.id, TicketHistory.field.like("fields.%")
        )
    ).all()
    assert {(r.field, r.old, r.new) for r in rows} == {
        ("fields.client", None, sworld.company_b),
        ("fields.site", None, sworld.site_b),
        ("fields.engineer", None, sworld.executor.id),
    }
    fields_of(session, sworld, ticket)  # configuration now cached for the transaction
    with count_queries as counted:
        values = fields_of(session, sworld, ticket)
    assert counted.count == 1, counted.statements  # every referenced name, one query
    assert values["site"] == {"id": sworld.site_b, "name": "Site B"}
    assert values["engineer"] == {"id": sworld.executor.id, "name": "Executor Test"}
    assert values["client"]["id"] == sworld.company_b and values["client"]["name"].startswith("Бета")


def test_refs_must_exist_and_be_visible_to_the_writer(session: Session, sworld: World) -> None:
    define(session, sworld, "site", "ref", ref_kind="object")
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, by="dispatcher", fields={"site": 2_000_000_000})
    assert problems_of(caught) == {"fields.site": "Refers to a missing object"}


def test_configuration_changes_apply_within_the_same_transaction(session: Session, sworld: World) -> None:
    ticket = make_ticket(session, sworld, by="dispatcher")
    assert fields_of(session, sworld, ticket) == {}
    define(session, sworld, "late", "string")
    assert fields_of(session, sworld, ticket) == {"late": None}


# --- stages and requirements ---------------------------------------------------------------------------


def test_required_field_blocks_entering_a_stage_until_filled(session: Session, sworld: World) -> None:
    row = define(session, sworld, "meter", "integer", name="Показания счётчика")
    cells(session, sworld, row, ("executor", "Работы выполнены", Level.REQUIRED))
    ticket = ticket_in_stage(session, sworld, "В работе")
    from builders import add_some_work

    add_some_work(session, sworld, ticket)
    with pytest.raises(RequirementNotMet) as caught:
        fire(session, sworld, ticket, "executor", "Завершить работы")
    assert caught.value.params == {"field": "Показания счётчика", "requirement": "field_required"}
    assert "Показания счётчика" in str(caught.value)
    update_ticket(
        session, sworld.executor.actor, ticket, version=ticket.version, changes={"fields": {"meter": 42}}
    )
    fire(session, sworld, ticket, "executor", "Завершить работы")
    assert session.get(Stage, ticket.stage_id).name == "Работы выполнены"  # type: ignore[union-attr]


def test_a_required_definition_is_required_for_staff_but_customers_may_cancel(
    session: Session, sworld: World
) -> None:
    define(session, sworld, "contract", "string", required=True, name="Договор")
    ticket = make_ticket(session, sworld)  # the customer cannot write it, so need not fill it
    assert ticket.fields == {}
    with pytest.raises(ValidationFailed) as caught:
        make_ticket(session, sworld, by="dispatcher")  # staff create at a stage where it is required
    assert problems_of(caught) == {"fields.contract": "This field is required"}
    assign(session, sworld, ticket)
    with pytest.raises(RequirementNotMet):
        fire(session, sworld, ticket, "dispatcher", "Назначить")
    fire(session, sworld, ticket, "customer_a", "Отменить заявку")  # cancellation: not required


def test_clearing_a_field_required_at_the_current_stage_is_refused(session: Session, sworld: World) -> None:
    row = define(session, sworld, "contact", "string")
    cells(session, sworld, row, ("dispatcher", "Новая", Level.REQUIRED))
    ticket = make_ticket(session, sworld, by="dispatcher", fields={"contact": "x"})
    with pytest.raises(ValidationFailed) as caught:
        update_ticket(
            session,
            sworld.dispatcher.actor,
            ticket,
            version=ticket.version,
            changes={"fields": {"contact": ""}},
        )
    assert problems_of(caught) == {"fields.contact": "This field is required"}


def test_archived_fields_keep_values_but_leave_forms_and_refuse_writes(
    session: Session, sworld: World
) -> None:
    row = define(session, sworld, "legacy", "string")
    define(session, sworld, "live", "string")
    ticket = make_ticket(session, sworld, by="dispatcher", fields={"legacy": "old value"})
    set_archived(session, sworld.owner.actor, row, archived=True)
    assert ticket.fields == {"legacy": "old value"}
    actor = sworld.dispatcher.actor
    assert [w["code"] for w in EXTENSIONS.fields.form_widgets(session, actor, sworld.type_id, ticket)] == [
        "live"
    ]
    assert [w["code"] for w in EXTENSIONS.fields.form_widgets(session, actor, sworld.type_id, None)] == [
        "live"
    ]
    assert fields_of(session, sworld, ticket) == {"legacy": "old value", "live": None}
    with pytest.raises(ValidationFailed) as caught:
        update_ticket(session, actor, ticket, version=ticket.version, changes={"fields": {"legacy": "new"}})
    assert problems_of(caught) == {"fields.legacy": "Is archived and cannot be changed"}
    items = EXTENSIONS.fields.display_items(session, actor, ticket)
    assert [(i["code"], i["text"]) for i in items] == [("legacy", "old value")]


def test_form_widgets_and_display_items(session: Session, sworld: World) -> None:
    define(session, sworld, "kind", "multichoice", help="pick", default=["low"])
    define(session, sworld, "ok", "boolean")
    define(session, sworld, "due", "date", validation={"min": "2020-01-01"})
    actor = sworld.dispatcher.actor
    widgets = {w["code"]: w for w in EXTENSIONS.fields.form_widgets(session, actor, sworld.type_id, None)}
    assert widgets["kind"]["value"] == ["low"] and widgets["kind"]["help"] == "pick"
    assert widgets["kind"]["choices"] == [("low", "Низкий"), ("high", "Высокий")]
    assert widgets["due"]["min"] == "2020-01-01" and widgets["ok"]["readonly"] is False
    # customers read by default: at creation a read-only field without a value is left out
    customer = sworld.customer_a.actor
    assert [w["code"] for w in EXTENSIONS.fields.form_widgets(session, customer, sworld.type_id, None)] == [
        "kind"
    ]
    ticket = make_ticket(
        session, sworld, by="dispatcher", fields={"kind": ["high", "low"], "ok": True, "due": "2027-01-31"}
    )
    items = {i["code"]: i["text"] for i in EXTENSIONS.fields.display_items(session, customer, ticket)}
    assert items == {"kind": "Высокий, Низкий", "ok": "Да", "due": "31.01.2027"}


# --- list filters --------------------------------------------------------------------------------------


@pytest.fixture
def filtered(session: Session, sworld: World) -> dict[str, Any]:
    define(session, sworld, "floor", "integer")
    define(session, sworld, "cost", "decimal")
    define(session, sworld, "due", "date")
    define(session, sworld, "visit", "datetime")
    define(session, sworld, "urgent", "boolean")
    define(session, sworld, "kind", "choice")
    define(session, sworld, "tags", "multichoice")
    define(session, sworld, "note", "string")
    define(session, sworld, "client", "ref", ref_kind="company")
    values = [
        {
            "floor": 1,
            "cost": "9.5",
            "due": "2027-01-01",
            "visit": "2027-01-01T08:00:00+00:00",
            "urgent": True,
            "kind": "low",
            "tags": ["low"],
            "note": "Привет",
            "client": sworld.company_a,
        },
        {
            "floor": 5,
            "cost": "10.25",
            "due": "2027-02-01",
            "visit": "2027-02-01T08:00:00+00:00",
            "urgent": False,
            "kind": "high",
            "tags": ["high", "low"],
            "note": "b",
            "client": sworld.company_b,
        },
        {"floor": 10, "cost": "100", "due": "2027-03-01", "urgent": False, "tags": ["high"]},
        {},
    ]
    tickets = [make_ticket(session, sworld, by="dispatcher", fields=v) for v in values]
    session.flush()
    return {"ids": [t.id for t in tickets]}


def listed(session: Session, world: World, raw: dict[str, str], who: str = "dispatcher") -> list[int]:
    page = list_tickets(
        session, world.people[who].actor, TicketView.ALL, TicketFilters(field_filters=raw), limit=100
    )
    return sorted(card.id for card in page.items)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"f.floor": "5"}, [1]),
        ({"f.floor__gte": "5"}, [1, 2]),
        ({"f.floor__gte": "2", "f.floor__lte": "9"}, [1]),
        ({"f.cost": "10.250"}, [1]),
        ({"f.cost__gte": "9.6"}, [1, 2]),
        ({"f.cost__lte": "10.25"}, [0, 1]),
        ({"f.due__gte": "2027-02-01"}, [1, 2]),
        ({"f.due__lte": "2027-01-31"}, [0]),
        ({"f.visit__gte": "2027-01-15T00:00:00Z"}, [1]),
        ({"f.visit": "2027-01-01T11:00:00+03:00"}, [0]),
        ({"f.urgent": "true"}, [0]),
        ({"f.urgent": "false"}, [1, 2]),
        ({"f.kind": "high"}, [1]),
        ({"f.kind__in": "low,high"}, [0, 1]),
        ({"f.tags": "low"}, [0, 1]),
        ({"f.tags__in": "high"}, [1, 2]),
        ({"f.note": "Привет"}, [0]),
        ({"f.client": "__client_b__"}, [1]),
        ({"f.kind": "low", "f.floor__lte": "3"}, [0]),
    ],
)
def test_list_filters(
    session: Session, sworld: World, filtered: dict[str, Any], raw: dict[str, str], expected: list[int]
) -> None:
    raw = {k: (str(sworld.company_b) if v == "__client_b__" else v) for k, v in raw.items()}
    ids = filtered["ids"]
    assert listed(session, sworld, raw) == [ids[i] for i in expected]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"f.ghost": "1"}, "f.ghost"),
        ({"f.floor": "one"}, "f.floor"),
        ({"f.note__gte": "a"}, "f.note"),
        ({"f.floor__in": "1,2"}, "f.floor"),
        ({"f.kind": "nope"}, "f.kind"),
        ({"f.floor__like": "1"}, "f.floor"),
    ],
)
def test_bad_filters_are_refused(
    session: Session, sworld: World, filtered: dict[str, Any], raw: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        listed(session, sworld, raw)
    assert field in problems_of(caught)


# --- objects and companies -----------------------------------------------------------------------------


def test_object_and_company_fields(session: Session, sworld: World) -> None:
    define(session, sworld, "inventory", "string", entity=FieldEntity.OBJECT, required=True)
    define(session, sworld, "power", "decimal", entity=FieldEntity.OBJECT, default="1.5")
    define(session, sworld, "contract", "date", entity=FieldEntity.COMPANY)
    obj = session.get(ServiceObject, sworld.site_a)
    company = session.get(Company, sworld.company_a)
    assert obj is not None and company is not None
    assert default_document(session, sworld.tenant_id, FieldEntity.OBJECT) == {"power": "1.5"}
    with pytest.raises(ValidationFailed) as caught:
        update_object_fields(session, sworld.dispatcher.actor, obj, {"power": "x"})
    assert problems_of(caught) == {
        "fields.power": "Must be a number",
        "fields.inventory": "This field is required",
    }
    values = update_object_fields(session, sworld.dispatcher.actor, obj, {"inventory": "INV-1", "power": 3})
    assert values == {"inventory": "INV-1", "power": 3}
    assert obj.fields == {"inventory": "INV-1", "power": "3"}
    assert entity_values(session, sworld.customer_a.actor, FieldEntity.OBJECT, obj.fields) == values
    with pytest.raises(Forbidden):
        update_object_fields(session, sworld.executor.actor, obj, {"inventory": "x"})
    for who in ("executor", "customer_a", "cadmin_a"):
        with pytest.raises(Forbidden):
            update_company_fields(session, sworld.people[who].actor, company, {"contract": "2027-01-01"})
    assert update_company_fields(session, sworld.dispatcher.actor, company, {"contract": "2027-01-01"}) == {
        "contract": "2027-01-01"
    }
    with pytest.raises(NotFound):
        get_company_for_actor(session, sworld.customer_b.actor, sworld.company_a)
    assert get_company_for_actor(session, sworld.customer_a.actor, sworld.company_a) is company


def test_ticket_fields_stay_off_objects(session: Session, sworld: World) -> None:
    define(session, sworld, "floor", "integer")
    obj = session.get(ServiceObject, sworld.site_a)
    assert obj is not None
    with pytest.raises(ValidationFailed) as caught:
        update_object_fields(session, sworld.dispatcher.actor, obj, {"floor": 1})
    assert problems_of(caught) == {"fields.floor": "Unknown field"}


def test_datetime_defaults_need_no_zone(session: Session, sworld: World) -> None:
    row = define(session, sworld, "visit", "datetime", default="2027-01-01T10:00:00Z")
    assert row.spec["default"] == dt.datetime(2027, 1, 1, 10, tzinfo=dt.UTC).isoformat()


def test_query_budget_of_reading_values(session: Session, sworld: World, count_queries: Any) -> None:
    from fixflow.fields.access import forget_config

    ticket = make_ticket(session, sworld, by="dispatcher")
    session.flush()
    forget_config(session)
    with count_queries as counted:
        assert fields_of(session, sworld, ticket) == {}
    assert counted.count == 1  # a tenant without ticket fields: the definitions only
    define(session, sworld, "note", "string")
    define(session, sworld, "client", "ref", ref_kind="company")
    session.flush()
    forget_config(session)
    with count_queries as counted:
        fields_of(session, sworld, ticket)
    assert counted.count == 2, counted.statements  # definitions; matrix with roles and stages
    update_ticket(
        session,
        sworld.dispatcher.actor,
        ticket,
        version=ticket.version,
        changes={"fields": {"client": sworld.company_a}},
    )
    session.flush()
    forget_config(session)
    with count_queries as counted:
        fields_of(session, sworld, ticket)
    assert counted.count == 3, counted.statements  # plus the names of every reference
