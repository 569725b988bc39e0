"""The per-process configuration cache never serves configuration that is not the tenant's current one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from builders import World, login, make_ticket
from fixflow.catalogs.refs import tenant_refs
from fixflow.core.db import Database
from fixflow.objects.models import ServiceObject
from fixflow.objects.service import create_object, delete_object
from fixflow.tenants.models import Tenant
from fixflow.webapp.lookups import objects_for_filter
from fixflow.workflow.models import Status

API = "/api/v1"


def _status_of_first_card(client: TestClient, headers: dict[str, str]) -> str:
    page = client.get(f"{API}/tickets?view=all", headers=headers).json()
    return str(page["items"][0]["status"]["name"])


def _start_status(database: Database, world: World) -> int:
    with database.session() as s:
        return int(
            s.execute(
                select(Status.id).where(Status.tenant_id == world.tenant_id).order_by(Status.id).limit(1)
            ).scalar_one()
        )


def _version(database: Database, tenant_id: int) -> int:
    with database.session() as s:
        return int(s.execute(select(Tenant.config_version).where(Tenant.id == tenant_id)).scalar_one())


def test_a_warm_list_reads_no_configuration_and_a_rename_shows_at_once(
    client: TestClient, world: World, database: Database, count_queries: Any
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
        status_id = ticket.status_id
    headers = login(client, world.dispatcher)
    before = _status_of_first_card(client, headers)
    with count_queries:
        assert _status_of_first_card(client, headers) == before
    assert not [q for q in count_queries.statements if "FROM statuses" in q]

    with database.session(write=True) as s:
        status = s.get(Status, status_id)
        assert status is not None
        status.name = "Переименован"
    assert _status_of_first_card(client, headers) == "Переименован"


def test_a_rolled_back_change_never_reaches_the_cache(world: World, database: Database) -> None:
    status_id = _start_status(database, world)
    with database.session() as s:
        original = tenant_refs(s, world.tenant_id).statuses[status_id].name
    session = database.session_factory()
    try:
        status = session.get(Status, status_id)
        assert status is not None
        status.name = "Черновик, который откатят"
        session.flush()
        # The writing session sees its own change…
        assert tenant_refs(session, world.tenant_id).statuses[status_id].name == "Черновик, который откатят"
    finally:
        session.rollback()
        session.close()
    # …and nobody else ever does.
    with database.session() as s:
        assert tenant_refs(s, world.tenant_id).statuses[status_id].name == original


def test_a_change_made_by_another_process_is_seen(world: World, database: Database) -> None:
    """Another process's cache is not ours to clear: its new version is what tells us."""
    status_id = _start_status(database, world)
    with database.session() as s:
        tenant_refs(s, world.tenant_id)  # warm
    with database.engine.begin() as connection:  # plain SQL: no listener of ours involved
        connection.execute(update(Status).where(Status.id == status_id).values(name="Из другого процесса"))
        connection.execute(update(Tenant).where(Tenant.id == world.tenant_id).values(config_version=12345))
    with database.session() as s:
        assert tenant_refs(s, world.tenant_id).statuses[status_id].name == "Из другого процесса"


def test_only_configuration_writes_change_the_version(world: World, database: Database) -> None:
    before = _version(database, world.tenant_id)
    with database.session(write=True) as s:
        make_ticket(s, world, by="customer_a")
    assert _version(database, world.tenant_id) == before
    with database.session(write=True) as s:
        s.add(Status(tenant_id=world.tenant_id, name="Новый статус"))
    assert _version(database, world.tenant_id) != before


def _first_card_path(client: TestClient, headers: dict[str, str]) -> list[str]:
    page = client.get(f"{API}/tickets?view=all", headers=headers).json()
    return list(page["items"][0]["object_path"])


def test_object_names_are_cached_and_a_rename_shows_at_once(
    client: TestClient, world: World, database: Database, count_queries: Any
) -> None:
    """Cards name each object's ancestors from a per-process cache that a rename invalidates."""
    site_id, equipment_id = world.objects_a
    with database.session(write=True) as s:
        make_ticket(s, world, by="customer_a", object_id=equipment_id)
    headers = login(client, world.customer_a)
    site_name, _ = _first_card_path(client, headers)
    with count_queries:
        assert _first_card_path(client, headers)[0] == site_name
    assert not [q for q in count_queries.statements if "objects.name" in q and "FROM objects" in q]

    with database.session(write=True) as s:
        site = s.get(ServiceObject, site_id)
        assert site is not None
        site.name = "Переименованный объект"
    assert _first_card_path(client, headers)[0] == "Переименованный объект"


def test_object_edits_no_list_shows_leave_the_configuration_version_alone(
    world: World, database: Database
) -> None:
    before = _version(database, world.tenant_id)
    with database.session(write=True) as s:
        site = s.get(ServiceObject, world.objects_a[0])
        assert site is not None
        site.notes, site.serial_number = "Ключ у охраны", "SN-1"
    assert _version(database, world.tenant_id) == before


def _filter_labels(database: Database, world: World) -> list[str]:
    with database.session() as s:
        return [o.label for o in objects_for_filter(s, world.customer_a.actor)]


def test_the_list_filters_objects_are_cached_and_follow_every_change_at_once(
    world: World, database: Database, count_queries: Any
) -> None:
    """The objects of the list filter live under the configuration version: adding, renaming,
    unpublishing and deleting an object each replace it."""
    first = _filter_labels(database, world)
    with count_queries:
        assert _filter_labels(database, world) == first
    assert not [q for q in count_queries.statements if "FROM objects" in q]

    with database.session(write=True) as s:
        site = s.get(ServiceObject, world.objects_a[0])
        assert site is not None
        added = create_object(
            s,
            tenant_id=world.tenant_id,
            name="Новая площадка",
            type_id=site.type_id,
            company_id=site.company_id,
            address="ул. Новая, 1",
        )
        added_id = added.id
    assert "Новая площадка" in _filter_labels(database, world)

    with database.session(write=True) as s:
        obj = s.get(ServiceObject, added_id)
        assert obj is not None
        obj.name = "Площадка у склада"
    assert "Площадка у склада" in _filter_labels(database, world)

    with database.session(write=True) as s:
        obj = s.get(ServiceObject, added_id)
        assert obj is not None
        obj.published = False
    assert "Площадка у склада" not in _filter_labels(database, world)

    with database.session(write=True) as s:
        obj = s.get(ServiceObject, added_id)
        assert obj is not None
        obj.published = True
    assert "Площадка у склада" in _filter_labels(database, world)
    with database.session(write=True) as s:
        obj = s.get(ServiceObject, added_id)
        assert obj is not None
        delete_object(s, obj)
    assert _filter_labels(database, world) == first
