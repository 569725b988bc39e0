"""A per-process cache of tenant configuration, kept exact by ``tenants.config_version``.

Statuses, stages, lifecycles, catalogues… change when an admin edits them and are read by every request.
Rows of classes marked :class:`TenantConfiguration` give their tenant a new ``config_version`` in the
same flush that writes them (so it commits or rolls back with the change), and a cached value is used
only while the version it was loaded under is still the tenant's current one. The version is a random
stamp, not a counter: a rolled-back transaction (or a tenant id SQLite hands out again) can never make an
old cached value look current. Authentication reads the
version in its single statement, so a warm request reads no configuration at all.

Values must be immutable snapshots (frozen dataclasses, tuples, mappings nobody mutates), never ORM
objects: they outlive the session and are shared by the threads of the process. The one kind of
exception: a dict that only ever gains entries that are true under its version (object names by id,
``objects.queries.object_names``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import column, event, inspect, select, table, update
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

T = TypeVar("T")

_tenants = table("tenants", column("id"), column("config_version"))
_VERSIONS = "fixflow.config_versions"  # session.info: tenant id → version this unit of work saw
_MEMO = "fixflow.config_memo"  # session.info: (tenant id, key) → value, for this unit of work
_DIRTY = "fixflow.config_dirty"  # session.info: tenants whose configuration this session changed

# (tenant id, key) → (version, value). Plain dict: single operations are atomic under the GIL, and a
# lost race only costs a second load of the same snapshot.
_process_cache: dict[tuple[int, Hashable], tuple[int, Any]] = {}


class TenantConfiguration:
    """Marker for models whose rows are tenant configuration (a write bumps ``config_version``).

    ``config_attributes`` narrows that to changes of these attributes of existing rows; new and
    deleted rows then count only with ``config_rows_count`` (what is cached by id never sees them).
    """

    config_attributes: ClassVar[tuple[str, ...] | None] = None
    config_rows_count: ClassVar[bool] = False


def note_config_version(session: Session, tenant_id: int, version: int) -> None:
    """Record the version read along with something else (the authentication statement)."""
    session.info.setdefault(_VERSIONS, {})[tenant_id] = version


def config_cached(session: Session, tenant_id: int, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value for this tenant's current configuration, loaded at most once per version."""
    memo: dict[tuple[int, Hashable], Any] = session.info.setdefault(_MEMO, {})
    memo_key = (tenant_id, key)
    if memo_key in memo:
        return cast(T, memo[memo_key])
    if tenant_id in session.info.get(_DIRTY, ()):
        value = load()  # this session's own uncommitted configuration is never shared
    else:
        version = _current_version(session, tenant_id)
        entry = _process_cache.get(memo_key)
        if entry is not None and entry[0] == version:
            value = entry[1]
        else:
            value = load()
            _process_cache[memo_key] = (version, value)
    memo[memo_key] = value
    return value


def shared_version(session: Session, tenant_id: int) -> int | None:
    """The tenant's configuration version, for per-process caches keyed by it; None while this
    session's own configuration changes are uncommitted (nothing derived from them may be shared)."""
    if tenant_id in session.info.get(_DIRTY, ()):
        return None
    return _current_version(session, tenant_id)


def _current_version(session: Session, tenant_id: int) -> int:
    versions: dict[int, int] = session.info.setdefault(_VERSIONS, {})
    if tenant_id not in versions:
        found = session.execute(select(_tenants.c.config_version).where(_tenants.c.id == tenant_id)).scalar()
        versions[tenant_id] = int(found or 0)
    return versions[tenant_id]


def _changed_tenants(session: Session) -> set[int]:
    tenants: set[int] = set()
    for obj in (*session.new, *session.deleted):
        if (
            isinstance(obj, TenantConfiguration)
            and (obj.config_attributes is None or obj.config_rows_count)
            and getattr(obj, "tenant_id", None) is not None
        ):
            tenants.add(int(obj.tenant_id))  # type: ignore[attr-defined]
    for obj in session.dirty:
        if isinstance(obj, TenantConfiguration) and _changed(session, obj):
            tenants.add(int(obj.tenant_id))  # type: ignore[attr-defined]
    return tenants


def _changed(session: Session, obj: TenantConfiguration) -> bool:
    if obj.config_attributes is None:
        return session.is_modified(obj, include_collections=False)
    attributes = inspect(obj).attrs
    return any(attributes[name].history.has_changes() for name in obj.config_attributes)


def mark_config_changed(session: Session, tenant_ids: set[int]) -> None:
    """New configuration versions for these tenants in the current transaction (also for bulk statements)."""
    if not tenant_ids:
        return
    session.connection().execute(
        update(_tenants)
        .where(_tenants.c.id.in_(sorted(tenant_ids)))
        .values(config_version=secrets.randbits(62))
    )
    session.info.setdefault(_DIRTY, set()).update(tenant_ids)
    memo: dict[tuple[int, Hashable], Any] = session.info.get(_MEMO, {})
    for memo_key in [k for k in memo if k[0] in tenant_ids]:
        del memo[memo_key]
    versions: dict[int, int] = session.info.get(_VERSIONS, {})
    for tenant_id in tenant_ids:
        versions.pop(tenant_id, None)


@event.listens_for(Session, "after_flush")
def _bump_on_flush(session: Session, _flush: UOWTransaction) -> None:
    # In after_flush the new/dirty/deleted collections still describe what this flush wrote.
    mark_config_changed(session, _changed_tenants(session))


def forget_unit_of_work_memo(session: Session) -> None:
    session.info.pop(_MEMO, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_after_savepoint(session: Session, transaction: SessionTransaction) -> None:
    # A rolled-back savepoint may have held configuration the memo still shows.
    if transaction.nested:
        forget_unit_of_work_memo(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_unit_of_work(session: Session) -> None:
    for key in (_VERSIONS, _MEMO, _DIRTY):
        session.info.pop(key, None)
