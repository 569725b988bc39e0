"""Prebuilt statements on the driver answer exactly what SQLAlchemy would; read sessions never write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.accounts import actorcache
from fixflow.accounts.service import _SESSION_LOOKUP_FINGERPRINTED
from fixflow.core.db import Database
from fixflow.core.prebuilt import _cursor_of, _prepare, _with_column, prebuilt_rows
from fixflow.tickets.models import Ticket

_BY_IDS = (
    select(Ticket.id, Ticket.number, Ticket.created_at)
    .where(Ticket.id.in_(bindparam("ids", expanding=True)))
    .order_by(Ticket.id)
)
_NOT_IN = select(Ticket.id).where(
    Ticket.tenant_id == bindparam("tenant"), Ticket.id.not_in(bindparam("ids", expanding=True))
)
_ECHO = select(bindparam("value", type_=Integer).label("value"))
_LIMITED = select(Ticket.id).where(Ticket.tenant_id == bindparam("tenant")).order_by(Ticket.id).limit(2)


@pytest.fixture
def three(session: Session, sworld: World) -> list[int]:
    return [make_ticket(session, sworld, description=f"t{i}").id for i in range(3)]


def test_expanding_lists_of_any_length_give_what_sqlalchemy_gives(
    session: Session, sworld: World, three: list[int]
) -> None:
    for ids in ([], three[:1], three, [*three, 10**12]):
        fast = [tuple(r) for r in prebuilt_rows(session, _BY_IDS, {"ids": ids})]
        slow = [tuple(r) for r in session.execute(_BY_IDS, {"ids": ids}).all()]
        assert fast == slow
        assert [r[0] for r in fast] == sorted(i for i in ids if i in three)
        left = {r.id for r in prebuilt_rows(session, _NOT_IN, {"tenant": sworld.tenant_id, "ids": ids})}
        assert left == set(three) - set(ids)


def test_values_embedded_in_the_statement_are_bound_and_columns_are_attributes(
    session: Session, sworld: World, three: list[int]
) -> None:
    rows = prebuilt_rows(session, _LIMITED, {"tenant": sworld.tenant_id})
    assert [r.id for r in rows] == three[:2]


def test_datetimes_come_back_aware_in_utc(session: Session, three: list[int]) -> None:
    (row,) = prebuilt_rows(session, _BY_IDS, {"ids": three[:1]})
    assert row.created_at.utcoffset() == dt.timedelta(0)
    assert row.created_at == session.execute(_BY_IDS, {"ids": three[:1]}).one().created_at


def test_engine_listeners_see_the_statement(session: Session, database: Database, three: list[int]) -> None:
    seen: list[tuple[str, Any]] = []
    session.flush()

    def spy(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", spy)
    try:
        prebuilt_rows(session, _BY_IDS, {"ids": three})
    finally:
        event.remove(database.engine, "before_cursor_execute", spy)
    assert len(seen) == 1
    statement, parameters = seen[0]
    assert "__[POSTCOMPILE" not in statement
    assert str(three[0]) not in statement  # the ids travel as parameters, never in the SQL text
    assert three[0] in (parameters["ids"] if isinstance(parameters, dict) else parameters)


def test_database_errors_surface_as_sqlalchemy_errors(session: Session) -> None:
    broken = select(Ticket.id).where(text("no_such_column = 1"))
    with pytest.raises(DBAPIError):
        prebuilt_rows(session, broken, {})


def test_a_connection_keeps_one_cursor_which_outlives_a_failed_statement(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("statements run on the driver on PostgreSQL only")
    with database.read_session_factory() as reading:
        assert [r.value for r in prebuilt_rows(reading, _ECHO, {"value": 1})] == [1]
        cursor = _cursor_of(reading.connection())
        with pytest.raises(DBAPIError):
            prebuilt_rows(reading, select(Ticket.id).where(text("no_such_column = 1")), {})
        assert [r.value for r in prebuilt_rows(reading, _ECHO, {"value": 2})] == [2]
        assert _cursor_of(reading.connection()) is cursor
        reading.connection().invalidate()  # the pool discards the connection, and its cursor with it
    with database.read_session_factory() as reading:
        assert [r.value for r in prebuilt_rows(reading, _ECHO, {"value": 3})] == [3]
        assert _cursor_of(reading.connection()) is not cursor


def test_a_read_session_refuses_to_write(database: Database, sworld: World) -> None:
    with database.read_session_factory() as reading:
        reading.add(Ticket(tenant_id=sworld.tenant_id))
        with pytest.raises(RuntimeError, match="never writes"):
            reading.flush()


def test_a_read_session_opens_no_transaction_on_postgresql(database: Database) -> None:
    with database.read_session_factory() as reading:
        reading.execute(text("SELECT 1"))
        driver = reading.connection().connection.driver_connection
        if database.dialect == "postgresql":
            assert driver.autocommit is True  # type: ignore[union-attr]
            assert driver.info.transaction_status.name == "IDLE"  # type: ignore[union-attr]


_CREATED_SINCE = select(Ticket.id).where(
    Ticket.id.in_(bindparam("ids", expanding=True)),
    Ticket.created_at >= bindparam("since", type_=Ticket.created_at.type),
)


def test_typed_parameters_are_converted_like_sqlalchemy_does(session: Session, three: list[int]) -> None:
    created = session.execute(_BY_IDS, {"ids": three[:1]}).one().created_at
    moscow = dt.timezone(dt.timedelta(hours=3))
    for since in (created.astimezone(moscow), created + dt.timedelta(seconds=1)):
        params = {"ids": three, "since": since}
        fast = sorted(r.id for r in prebuilt_rows(session, _CREATED_SINCE, params))
        assert fast == sorted(r.id for r in session.execute(_CREATED_SINCE, params))
    assert three[0] in {
        r.id
        for r in prebuilt_rows(session, _CREATED_SINCE, {"ids": three, "since": created.astimezone(moscow)})
    }


def test_statements_carrying_the_actor_check_stay_on_the_driver(database: Database) -> None:
    """A column that needs SQLAlchemy at every execution (a post-compiled parameter) would send every
    list back through the slow path, silently: the carried fingerprint and the lookup must not."""
    if database.dialect != "postgresql":
        pytest.skip("the driver path is PostgreSQL's")
    with database.read_session_factory() as reading:
        connection = reading.connection()
        for column in (actorcache.FINGERPRINT_WITH_COLLEAGUES, actorcache._FINGERPRINT_LIGHT):
            for newest_first in ((), ("id",)):  # a page's head row too
                assert _prepare(_with_column(_LIMITED, column, newest_first), connection) is not None
        assert _prepare(_SESSION_LOOKUP_FINGERPRINTED, connection) is not None
