"""The object tree (spec/domain.md §3): paths, inherited address and timezone, type and deletion rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, fire, make_ticket, make_world, ticket_in_stage
from fixflow.core.errors import Conflict, NotFound, ValidationFailed
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.objects.queries import (
    allows_work_type,
    effective_address,
    effective_timezone,
    get_object_for_actor,
    load_ancestors,
    path_names,
    visible_objects_predicate,
)
from fixflow.objects.service import (
    change_object_type,
    create_object,
    delete_object,
    require_usable_for_ticket,
)
from fixflow.tickets.service import delete_ticket
from querycount import QueryCounter


def types(session: Session, world: World) -> dict[str, int]:
    return {
        t.name: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == world.tenant_id))
    }


def tree(session: Session, world: World) -> dict[str, ServiceObject]:
    """site (address, tz) > building (address) > floor > boiler (tz) > burner."""
    t = types(session, world)
    site = create_object(
        session,
        tenant_id=world.tenant_id,
        name="Завод",
        type_id=t["Площадка"],
        company_id=world.company_a,
        address="Тула, Заводская 1",
        timezone="Europe/Moscow",
    )
    building = create_object(
        session,
        tenant_id=world.tenant_id,
        name="Корпус",
        type_id=t["Оборудование"],
        company_id=world.company_a,
        parent_id=site.id,
        address="Тула, Заводская 1, корп. 2",
    )
    floor = create_object(
        session,
        tenant_id=world.tenant_id,
        name="Этаж 3",
        type_id=t["Оборудование"],
        company_id=world.company_a,
        parent_id=building.id,
    )
    boiler = create_object(
        session,
        tenant_id=world.tenant_id,
        name="Котёл",
        type_id=t["Оборудование"],
        company_id=world.company_a,
        parent_id=floor.id,
        timezone="Asia/Yekaterinburg",
    )
    burner = create_object(
        session,
        tenant_id=world.tenant_id,
        name="Горелка",
        type_id=t["Оборудование"],
        company_id=world.company_a,
        parent_id=boiler.id,
    )
    return {"site": site, "building": building, "floor": floor, "boiler": boiler, "burner": burner}


# --- paths and ancestors ------------------------------------------------------------------------------


def test_path_and_ancestors(session: Session, sworld: World) -> None:
    o = tree(session, sworld)
    site, building, floor, boiler, burner = (o[k] for k in ("site", "building", "floor", "boiler", "burner"))
    assert site.path == f"/{site.id}/"
    assert burner.path == f"/{site.id}/{building.id}/{floor.id}/{boiler.id}/{burner.id}/"
    assert site.ancestor_ids == []
    assert burner.ancestor_ids == [site.id, building.id, floor.id, boiler.id]  # root first
    ancestors = load_ancestors(session, [burner, floor])
    assert set(ancestors) == {site.id, building.id, floor.id, boiler.id}
    assert path_names(burner, ancestors) == ["Завод", "Корпус", "Этаж 3", "Котёл", "Горелка"]
    assert path_names(site, {}) == ["Завод"]
    assert load_ancestors(session, [site]) == {}


def test_ancestors_of_many_objects_take_one_query(
    session: Session, sworld: World, count_queries: QueryCounter
) -> None:
    o = tree(session, sworld)
    session.flush()
    with count_queries:
        load_ancestors(session, list(o.values()))
    assert count_queries.count == 1


def test_parent_must_be_a_live_object_of_the_tenant(session: Session, sworld: World) -> None:
    t = types(session, sworld)
    other = make_world(session)
    with pytest.raises(ValidationFailed):
        create_object(
            session,
            tenant_id=sworld.tenant_id,
            name="x",
            type_id=t["Оборудование"],
            company_id=sworld.company_a,
            parent_id=other.site_a,
        )
    gone = session.get(ServiceObject, sworld.site_b)
    assert gone is not None
    delete_object(session, gone)
    with pytest.raises(ValidationFailed):
        create_object(
            session,
            tenant_id=sworld.tenant_id,
            name="x",
            type_id=t["Оборудование"],
            company_id=sworld.company_b,
            parent_id=gone.id,
        )


def test_type_and_company_must_belong_to_the_tenant(session: Session, sworld: World) -> None:
    other = make_world(session)
    t, theirs = types(session, sworld), types(session, other)
    with pytest.raises(ValidationFailed):
        create_object(
            session,
            tenant_id=sworld.tenant_id,
            name="x",
            type_id=theirs["Площадка"],
            company_id=sworld.company_a,
            address="a",
        )
    with pytest.raises(ValidationFailed):
        create_object(
            session,
            tenant_id=sworld.tenant_id,
            name="x",
            type_id=t["Площадка"],
            company_id=other.company_a,
            address="a",
        )


# --- address and timezone -----------------------------------------------------------------------------


def test_site_type_requires_an_address_equipment_does_not(session: Session, sworld: World) -> None:
    t = types(session, sworld)
    for blank in ("", "   "):
        with pytest.raises(ValidationFailed):
            create_object(
                session,
                tenant_id=sworld.tenant_id,
                name="Без адреса",
                type_id=t["Площадка"],
                company_id=sworld.company_a,
                address=blank,
            )
    root_equipment = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="Насос",
        type_id=t["Оборудование"],
        company_id=sworld.company_a,
    )
    assert effective_address(root_equipment, {}) == ""


def test_effective_address_is_own_or_nearest_ancestors(session: Session, sworld: World) -> None:
    o = tree(session, sworld)
    ancestors = load_ancestors(session, o.values())
    assert effective_address(o["site"], ancestors) == "Тула, Заводская 1"
    assert effective_address(o["building"], ancestors) == "Тула, Заводская 1, корп. 2"  # own wins
    assert effective_address(o["floor"], ancestors) == "Тула, Заводская 1, корп. 2"  # parent
    assert effective_address(o["burner"], ancestors) == "Тула, Заводская 1, корп. 2"  # nearest, 3 levels up
    o["building"].address = ""
    assert effective_address(o["burner"], ancestors) == "Тула, Заводская 1"  # then the next one up


def test_effective_timezone_is_own_or_nearest_ancestors_or_the_default(
    session: Session, sworld: World
) -> None:
    o = tree(session, sworld)
    ancestors = load_ancestors(session, o.values())
    assert effective_timezone(o["site"], ancestors, "UTC") == "Europe/Moscow"
    assert effective_timezone(o["floor"], ancestors, "UTC") == "Europe/Moscow"
    assert effective_timezone(o["boiler"], ancestors, "UTC") == "Asia/Yekaterinburg"
    assert effective_timezone(o["burner"], ancestors, "UTC") == "Asia/Yekaterinburg"  # nearest, not the root
    o["site"].timezone = None
    assert effective_timezone(o["floor"], ancestors, "Europe/Kaliningrad") == "Europe/Kaliningrad"


def test_address_is_stored_trimmed(session: Session, sworld: World) -> None:
    t = types(session, sworld)
    obj = create_object(
        session,
        tenant_id=sworld.tenant_id,
        name="x",
        type_id=t["Площадка"],
        company_id=sworld.company_a,
        address="  Тверская 1 ",
    )
    assert obj.address == "Тверская 1"


# --- type immutability --------------------------------------------------------------------------------


def test_type_of_a_published_object_cannot_change(session: Session, sworld: World) -> None:
    t = types(session, sworld)
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None and obj.published
    with pytest.raises(Conflict):
        change_object_type(session, obj, t["Площадка"])
    assert obj.type_id == t["Оборудование"]
    change_object_type(session, obj, t["Оборудование"])  # the same type is not a change
    obj.published = False
    change_object_type(session, obj, t["Площадка"])  # a draft may still change
    assert obj.type_id == t["Площадка"]


# --- deletion -----------------------------------------------------------------------------------------


def test_object_with_active_tickets_cannot_be_deleted(session: Session, sworld: World) -> None:
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    ticket = make_ticket(session, sworld, object_id=obj.id)
    with pytest.raises(Conflict):
        delete_object(session, obj)
    assert obj.deleted_at is None
    fire(session, sworld, ticket, "customer_a", "Отменить заявку")  # closed now
    delete_object(session, obj)
    assert obj.deleted_at is not None
    assert session.get(ServiceObject, obj.id) is not None  # soft


def test_any_open_stage_blocks_deletion(session: Session, sworld: World) -> None:
    ticket = ticket_in_stage(session, sworld, "Работы выполнены")
    obj = session.get(ServiceObject, ticket.object_id)
    assert obj is not None
    with pytest.raises(Conflict):
        delete_object(session, obj)


def test_deleted_tickets_do_not_block_deletion(session: Session, sworld: World) -> None:
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    ticket = make_ticket(session, sworld, object_id=obj.id)
    delete_ticket(session, sworld.owner.actor, ticket)
    delete_object(session, obj)
    assert obj.deleted_at is not None


def test_deleted_or_unpublished_object_is_unusable_and_hidden_as_appropriate(
    session: Session, sworld: World
) -> None:
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    assert require_usable_for_ticket(obj) is obj
    with pytest.raises(NotFound):
        require_usable_for_ticket(None)
    obj.published = False
    session.flush()
    with pytest.raises(ValidationFailed):
        require_usable_for_ticket(obj)
    # customers do not even see unpublished objects; staff do (to finish them)
    with pytest.raises(NotFound):
        get_object_for_actor(session, sworld.customer_a.actor, obj.id)
    assert get_object_for_actor(session, sworld.dispatcher.actor, obj.id).id == obj.id
    obj.published = True
    obj.deleted_at = obj.created_at
    session.flush()
    with pytest.raises(ValidationFailed):
        require_usable_for_ticket(obj)
    with pytest.raises(NotFound):
        get_object_for_actor(session, sworld.dispatcher.actor, obj.id)


# --- who sees which object ----------------------------------------------------------------------------


def test_object_visibility(session: Session, sworld: World) -> None:
    other = make_world(session)

    def seen(key: str) -> set[int]:
        stmt = select(ServiceObject.id).where(visible_objects_predicate(sworld.people[key].actor))
        return set(session.scalars(stmt))

    mine_a, mine_b = set(sworld.objects_a), set(sworld.objects_b)
    assert seen("dispatcher") == mine_a | mine_b
    assert seen("executor") == mine_a | mine_b
    assert seen("customer_a") == mine_a
    assert seen("cadmin_b") == mine_b
    assert not seen("owner") & set(other.objects_a + other.objects_b)


def test_allowed_work_types(session: Session, sworld: World) -> None:
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    assert allows_work_type(obj, 12345)  # None = all
    obj.allowed_work_type_ids = [1, 2]
    assert allows_work_type(obj, 2)
    assert not allows_work_type(obj, 3)
    obj.allowed_work_type_ids = []
    assert not allows_work_type(obj, 1)
