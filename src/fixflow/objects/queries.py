"""Which objects an actor may see and file tickets for (the objects counterpart of ticket visibility)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.core.configcache import config_cached
from fixflow.core.errors import NotFound
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.core.sqlfuncs import prefix_range, prefix_upper_bound
from fixflow.objects.models import ServiceObject


def visible_objects_predicate(actor: Actor) -> ColumnElement[bool]:
    return objects_visibility(*objects_visibility_shape(actor), objects_visibility_params(actor))


def objects_visibility_shape(actor: Actor) -> tuple[bool, bool]:
    """(staff, has companies): all that changes the predicate's structure (see tickets.queries)."""
    return actor.is_staff, bool(actor.company_ids)


def objects_visibility_params(actor: Actor) -> dict[str, Any]:
    return {"o_tenant": actor.tenant_id, "o_companies": sorted(actor.company_ids)}


def objects_visibility(staff: bool, has_companies: bool, params: dict[str, Any]) -> ColumnElement[bool]:
    """Ids enter as named parameters only, so one statement can serve every actor of a shape."""
    conditions: list[ColumnElement[bool]] = [
        ServiceObject.tenant_id == bindparam("o_tenant", params["o_tenant"]),
        ServiceObject.deleted_at.is_(None),
    ]
    if not staff:
        companies: Any = bindparam("o_companies", params["o_companies"], expanding=True)
        conditions.append(ServiceObject.company_id.in_(companies) if has_companies else false())
        conditions.append(ServiceObject.published.is_(True))
    return and_(*conditions)


def get_object_for_actor(session: Session, actor: Actor, object_id: int) -> ServiceObject:
    obj = session.scalar(
        select(ServiceObject).where(ServiceObject.id == object_id, visible_objects_predicate(actor))
    )
    if obj is None:
        raise NotFound("Object not found")
    return obj


_OBJECT_NAMES = select(ServiceObject.id, ServiceObject.name).where(
    ServiceObject.tenant_id == bindparam("tenant"), ServiceObject.id.in_(bindparam("ids", expanding=True))
)
_MAX_CACHED_NAMES = 200_000


def object_names(session: Session, tenant_id: int, object_ids: Iterable[int]) -> dict[int, str]:
    """Names by id (ancestors on cards and profiles: every list request), cached per process.

    The cache lives under the tenant's configuration version, which a rename replaces
    (``ServiceObject.config_attributes``), and fills by id as lists meet objects: a warm list reads
    no names at all. A dict shared by threads: single reads and writes are atomic, and a lost race
    costs one more query.
    """
    ids = set(object_ids)
    if not ids:
        return {}
    cache: dict[int, str] = config_cached(session, tenant_id, "object_names", dict)
    found = {i: name for i in ids if (name := cache.get(i)) is not None}
    missing = ids - found.keys()
    if missing:
        params = {"tenant": tenant_id, "ids": sorted(missing)}
        fetched = {object_id: name for object_id, name in prebuilt_rows(session, _OBJECT_NAMES, params)}
        if len(cache) + len(fetched) > _MAX_CACHED_NAMES:
            cache.clear()
        cache.update(fetched)
        found.update(fetched)
    return found


def subtree_terms(dialect: str, tenant_id: int, root_path: str) -> list[ColumnElement[bool]]:
    """An object and everything under it: its path ("/1/7/42/") is a prefix of theirs, as an index
    range (``core.sqlfuncs.prefix_range``, ``ix_objects_tenant_path_pattern``)."""
    bounds = prefix_range(dialect, ServiceObject.path, root_path, prefix_upper_bound(root_path))
    return [ServiceObject.tenant_id == tenant_id, *bounds]


def ancestor_ids_of(object_id: int, path: str) -> list[int]:
    """The ids of an object's ancestors, root first, from its materialised path."""
    return [int(p) for p in path.strip("/").split("/") if p and int(p) != object_id]


def load_ancestors(session: Session, objects: Iterable[ServiceObject]) -> dict[int, ServiceObject]:
    """Every ancestor of the given objects in one query, keyed by id."""
    wanted = {a for obj in objects for a in obj.ancestor_ids}
    if not wanted:
        return {}
    rows = session.scalars(select(ServiceObject).where(ServiceObject.id.in_(wanted))).all()
    return {o.id: o for o in rows}


def path_names(obj: ServiceObject, ancestors: dict[int, ServiceObject]) -> list[str]:
    return [ancestors[a].name for a in obj.ancestor_ids if a in ancestors] + [obj.name]


def effective_address(obj: ServiceObject, ancestors: dict[int, ServiceObject]) -> str:
    """The object's own address, else the nearest ancestor's."""
    if obj.address:
        return obj.address
    for ancestor_id in reversed(obj.ancestor_ids):
        ancestor = ancestors.get(ancestor_id)
        if ancestor is not None and ancestor.address:
            return ancestor.address
    return ""


def effective_timezone(obj: ServiceObject, ancestors: dict[int, ServiceObject], default: str) -> str:
    if obj.timezone:
        return obj.timezone
    for ancestor_id in reversed(obj.ancestor_ids):
        ancestor = ancestors.get(ancestor_id)
        if ancestor is not None and ancestor.timezone:
            return ancestor.timezone
    return default


def allows_work_type(obj: ServiceObject, work_type_id: int) -> bool:
    return obj.allowed_work_type_ids is None or work_type_id in obj.allowed_work_type_ids
