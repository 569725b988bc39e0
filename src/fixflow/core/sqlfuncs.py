"""Small SQL building blocks that both dialects and the prebuilt driver path (core.prebuilt) accept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, ColumnElement, String, cast, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

# Constants in the SQL text rather than bound: nothing to bind per request.
EMPTY_TEXT = literal_column("''", String)


class CommaJoined(FunctionElement[str]):
    """``string_agg``/``group_concat`` with a separator in the SQL text: ``func.aggregate_strings``
    binds it as a literal-execute parameter, which keeps a statement off the prebuilt driver path."""

    type = String()
    inherit_cache = True


@compiles(CommaJoined)
def _comma_joined_sqlite(element: CommaJoined, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ',')"


@compiles(CommaJoined, "postgresql")
def _comma_joined_postgresql(element: CommaJoined, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ',')"


def joined_ids(column: Any, *where: ColumnElement[bool]) -> ColumnElement[str]:
    """Comma-joined ids of the rows ``where`` selects, in any order; '' when there are none."""
    found = select(CommaJoined(cast(column, String))).where(*where).scalar_subquery()
    return func.coalesce(found, EMPTY_TEXT)


class JsonArrays(FunctionElement[Any]):
    """An aggregate: each row's values as a JSON array, all of them in one (``[]`` for no rows).

    For a read that needs a few small lists beside one row (the ticket profile): scalar subqueries of
    these make one statement where each list was a round trip of its own.
    """

    type = JSON()
    inherit_cache = True


@compiles(JsonArrays)
def _json_arrays_sqlite(element: JsonArrays, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(JsonArrays, "postgresql")
def _json_arrays_postgresql(element: JsonArrays, compiler: Any, **kw: Any) -> str:
    return f"coalesce(json_agg(json_build_array({compiler.process(element.clauses, **kw)})), '[]'::json)"


def json_rows(*columns: Any, from_: Any, where: Sequence[ColumnElement[bool]]) -> Any:
    """A scalar subquery: ``[[c1, c2, …], …]`` of the rows of ``from_`` that ``where`` selects.

    Correlated to the enclosing statement as written; values arrive as JSON gives them (numbers,
    strings — times as ISO text —, nulls), in no particular order.
    """
    return select(JsonArrays(*columns)).select_from(from_).where(*where).scalar_subquery()


def prefix_upper_bound(prefix: str) -> str:
    """The smallest text above every text starting with ``prefix`` (ASCII prefixes: numbers, paths)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def prefix_range(dialect: str, column: Any, low: Any, high: Any) -> list[ColumnElement[bool]]:
    """``low <= column < high`` in byte order, as an index range even when the bounds are parameters.

    A prefix search as a range rather than ``LIKE 'prefix%'``: PostgreSQL's generic plans (core.db's
    read connections) cannot turn a parameterised LIKE into an index range, and SQLite's LIKE ignores
    case and every index. On PostgreSQL the operators are the pattern-ops opclass's (byte order
    whatever the collation); the column needs such an index.
    """
    if dialect == "postgresql":
        return [column.op("~>=~", is_comparison=True)(low), column.op("~<~", is_comparison=True)(high)]
    return [column >= low, column < high]


class InPath(ColumnElement[bool]):
    """``object_id`` is one of the ids of a materialised object path ("/2/12/": the object and its
    ancestors), answered by primary-key probes of those few ids, never a scan of the objects."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, object_id: Any, path: Any) -> None:  # columns or ORM attributes
        self.object_id = object_id
        self.path = path


@compiles(InPath)
def _in_path_sqlite(element: InPath, compiler: Any, **kw: Any) -> str:
    path = compiler.process(element.path, **kw)
    ids = f"'[' || replace(trim({path}, '/'), '/', ',') || ']'"
    return f"{compiler.process(element.object_id, **kw)} IN (SELECT value FROM json_each({ids}))"  # noqa: S608 (compiled SQL, no input)


@compiles(InPath, "postgresql")
def _in_path_postgresql(element: InPath, compiler: Any, **kw: Any) -> str:
    path = compiler.process(element.path, **kw)
    ids = f"CAST(string_to_array(btrim({path}, '/'), '/') AS BIGINT[])"
    return f"{compiler.process(element.object_id, **kw)} = ANY ({ids})"
