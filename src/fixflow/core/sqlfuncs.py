"""Small SQL building blocks that both dialects and the prebuilt driver path (core.prebuilt) accept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal_column, select
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


def split_ids(joined: str | None) -> list[int]:
    return [int(i) for i in joined.split(",")] if joined else []
