"""Prebuilt statements run straight on the database driver (PostgreSQL), compiled once per statement.

The hot read paths (authentication, ticket lists, counters, the ticket profile) build each statement
once per shape (``tickets.queries.shaped_statement``) and run it for every request. On PostgreSQL,
SQLAlchemy's execution machinery around such a statement (cache key, parameter processing, result
metadata, row objects) costs several times what psycopg itself spends on it, and more than PostgreSQL
spends running it. Here the statement is compiled once, expanding ``IN`` lists become ``= ANY(array)``
parameters (so the SQL text never changes with the list's length and stays one prepared statement), and
each request only binds its parameters and reads named-tuple rows from a psycopg cursor on the
session's own connection: same transaction, same SQL, same plan.

Rows come back as psycopg returns them: the engine pins the connection time zone to UTC, so
``timestamptz`` values arrive as UTC-aware datetimes, exactly what ``UTCDateTime`` would produce. Only
column selects belong here (no ORM entities); other dialects run the statement through the session.
The engine's ``before_cursor_execute``/``after_cursor_execute`` listeners still see every statement, so
statement counters and profilers keep working.

A statement may also **carry a check** for the request (``carrier=True``): a column another module put
in ``session.info[CARRIED_CHECK]`` (the validation of a remembered actor, ``accounts.actorcache``) is
added to it, so the check costs no round trip of its own. The check sees the first row's value and
raises if the rows were read on a premise that no longer holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.engine import Compiled, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

AnySelect = Select[*tuple[Any, ...]]

# psycopg converts each query's placeholders anew unless the text is at most this long (4 KB by
# default, against ORM-generated one-off statements). The prebuilt statements are a fixed few run for
# every request, and the longest (a list page with its counters, the ticket profile) exceed it.
_STATEMENT_TEXT_CACHED = 64 * 1024
if getattr(psycopg._queries, "MAX_CACHED_STATEMENT_LENGTH", _STATEMENT_TEXT_CACHED) < _STATEMENT_TEXT_CACHED:
    psycopg._queries.MAX_CACHED_STATEMENT_LENGTH = _STATEMENT_TEXT_CACHED
# SQLAlchemy renders an expanding parameter as a placeholder filled in at every execution.
_EXPANDING = re.compile(r"(NOT )?IN \(__\[POSTCOMPILE_(\w+)\]\)")
_MAX_COMPILED = 4096
CARRIED_CHECK = "fixflow.carried_check"  # session.info: the CarriedCheck the next carrier statement takes
_CURSOR = "fixflow.prebuilt_cursor"  # a pooled connection's info: its cursor (_cursor_of)


class CarriedCheck(Protocol):
    """A scalar column (labelled ``label``) checked against what the request assumed."""

    label: str
    column: ColumnElement[Any]
    params: dict[str, Any]

    def accept(self, value: Any) -> None:
        """Raise if ``value`` shows the request's premise no longer holds."""


# (id(statement), id(column), order) → (statement, column, the statement with the column): kept alive
# together.
_carrying: dict[tuple[int, int, tuple[str, ...]], tuple[AnySelect, ColumnElement[Any], AnySelect]] = {}


def _with_column(
    statement: AnySelect, column: ColumnElement[Any], newest_first: tuple[str, ...]
) -> AnySelect:
    key = (id(statement), id(column), newest_first)
    found = _carrying.get(key)
    if found is not None and found[0] is statement and found[1] is column:
        return found[2]
    if newest_first:
        # The check in a one-row head, the page left-joined to it: an empty page still brings the
        # check back (in a row whose page columns are all NULL). The page keeps its own order and
        # limit inside; the outer order restores it for the few rows it returns.
        head = select(column).subquery("head")
        page = statement.subquery("page")
        wrapped = (
            select(*page.c, *head.c)
            .select_from(head.outerjoin(page, true()))
            .order_by(*(page.c[name].desc() for name in newest_first))
        )
    else:
        wrapped = statement.add_columns(column)
    if len(_carrying) >= _MAX_COMPILED:
        _carrying.clear()
    _carrying[key] = (statement, column, wrapped)
    return wrapped


async def _fetch_async(cursor: Any, sql: str, values: dict[str, Any]) -> list[Any]:
    await cursor.execute(sql, values)
    rows: list[Any] = await cursor.fetchall()
    return rows


def _cursor_of(connection: Connection) -> Any:
    """The driver connection's own cursor for prebuilt statements, made once and kept with it.

    A connection runs one statement at a time, and a cursor's ``execute`` starts afresh, so one
    cursor serves every prebuilt statement of its connection. Making and closing one per statement
    was ≈ 35 µs of a list page's ≈ 175 in psycopg (bench/RESULTS.md, eighth session). It goes with
    the connection when the pool discards it.
    """
    fairy = connection.connection
    cursor = fairy.info.get(_CURSOR)
    driver = fairy.driver_connection
    if cursor is None or cursor.closed or cursor.connection is not driver:
        cursor = driver.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr]
        fairy.info[_CURSOR] = cursor
    return cursor


def check_carried(session: Session) -> None:
    """Run a check no carrier statement took (no carrier ran, or each returned no rows)."""
    check: CarriedCheck | None = session.info.pop(CARRIED_CHECK, None)
    if check is not None:
        check.accept(session.execute(select(check.column), check.params).scalar())


class _Prepared:
    __slots__ = ("compiled", "processors", "sql", "statement")

    def __init__(self, statement: AnySelect, sql: str, compiled: Compiled) -> None:
        self.statement = statement  # keeps id(statement) from being reused while cached
        self.sql = sql
        self.compiled = compiled
        # Types that convert what they bind (UTCDateTime: aware datetimes only) still do so here.
        found: dict[str, Callable[[Any], Any]] = getattr(compiled, "_bind_processors", {})
        self.processors = tuple(found.items())


_prepared: dict[int, _Prepared | None] = {}


def _prepare(statement: AnySelect, connection: Connection) -> _Prepared | None:
    """The driver SQL of a statement, or None when it cannot run outside SQLAlchemy."""
    key = id(statement)
    if key in _prepared:
        found = _prepared[key]
        if found is None or found.statement is statement:
            return found
    compiled = statement.compile(dialect=connection.dialect)
    sql = _EXPANDING.sub(lambda m: f"{'<> ALL' if m[1] else '= ANY'}(%({m[2]})s)", compiled.string)
    prepared = None if "__[POSTCOMPILE" in sql else _Prepared(statement, sql, compiled)
    if len(_prepared) >= _MAX_COMPILED:
        _prepared.clear()
    _prepared[key] = prepared
    return prepared


def prebuilt_rows(
    session: Session,
    statement: AnySelect,
    params: dict[str, Any],
    *,
    carrier: bool = False,
    entities: bool = False,
    newest_first: tuple[str, ...] = (),
) -> Sequence[Any]:
    """All rows of a statement built once and reused (never one built per call: it would be compiled
    per call). Rows have the statement's column labels as attributes; a ``carrier`` statement's rows
    may have the pending check's column too (consumers read its rows by name). A statement that loads
    ORM ``entities`` runs through the session (it may still carry the check).

    ``newest_first``: a carrier that may return no rows (a page), ordered by these columns descending,
    the last one never NULL (an id). It then carries the check even when empty, instead of leaving it
    to a statement of its own.
    """
    run = _entity_rows if entities else _rows
    check: CarriedCheck | None = session.info.get(CARRIED_CHECK) if carrier else None
    if check is None:
        return run(session, statement, params)
    rows = run(session, _with_column(statement, check.column, newest_first), {**params, **check.params})
    if rows:
        del session.info[CARRIED_CHECK]
        check.accept(getattr(rows[0], check.label))
        if newest_first and getattr(rows[0], newest_first[-1]) is None:
            return []  # the head alone: the page is empty
    return rows


def _entity_rows(session: Session, statement: AnySelect, params: dict[str, Any]) -> Sequence[Any]:
    return session.execute(statement, params).all()


def _rows(session: Session, statement: AnySelect, params: dict[str, Any]) -> Sequence[Any]:
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()  # what session.execute would do first
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return session.execute(statement, params).all()
    prepared = _prepare(statement, connection)
    if prepared is None:
        return session.execute(statement, params).all()
    values = dict(prepared.compiled.construct_params(params) or {})
    for name, process in prepared.processors:
        value = values.get(name)
        if isinstance(value, list):  # an expanding parameter: each element, as SQLAlchemy does
            values[name] = [process(v) for v in value]
        elif value is not None:
            values[name] = process(value)
    cursor = _cursor_of(connection)
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(connection, cursor, prepared.sql, values, None, False)
    try:
        if isinstance(cursor, psycopg.AsyncCursor):  # in SQLAlchemy's greenlet (Database.open_async_reads)
            rows: list[Any] = await_only(_fetch_async(cursor, prepared.sql, values))
        else:
            cursor.execute(prepared.sql, values)
            rows = cursor.fetchall()
    except psycopg.Error as exc:
        # The same exception types as through SQLAlchemy. A lost connection is not flagged here; the
        # pool finds it out when it resets the connection on return, and discards it.
        raise DBAPIError.instance(prepared.sql, values, exc, psycopg.Error) from exc
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(connection, cursor, prepared.sql, values, None, False)
    return rows
