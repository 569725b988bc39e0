"""The plan PostgreSQL runs for a statement on the app's read connections (for benchmarks and tests)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Connection

from fixflow.core.db import READ_PLAN_CACHE_MODE

_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")


def generic_plan(
    conn: Connection, statement: str, parameters: dict[str, Any], *, analyze: bool = True
) -> str:
    """EXPLAIN of ``statement`` (psycopg's pyformat, as SQLAlchemy sent it) planned without its values.

    EXPLAIN with bound parameters plans with their values (a custom plan), but the read connections
    run generic plans (``core.db.READ_PLAN_CACHE_MODE``); so the statement is PREPAREd under that mode
    and explained as EXECUTE — PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN). Runs in the caller's
    transaction, whose plan_cache_mode it sets (SET LOCAL).
    """
    import psycopg

    order: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    prepared = _PYFORMAT.sub(placeholder, statement)
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    literals = ", ".join(psycopg.ClientCursor(raw).mogrify("%s", (parameters[n],)) for n in order)
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {READ_PLAN_CACHE_MODE}")
    conn.exec_driver_sql("SET LOCAL jit = off")  # as the app's connections (core.db.SESSION_OPTIONS)
    # exec_driver_sql without parameters still reads pyformat: escape the statement's own percents.
    conn.exec_driver_sql(f"PREPARE fixflow_generic AS {prepared}".replace("%", "%%"))
    try:
        execute = f"EXECUTE fixflow_generic({literals})" if literals else "EXECUTE fixflow_generic"
        options = "ANALYZE, BUFFERS" if analyze else "COSTS"
        rows = conn.exec_driver_sql(f"EXPLAIN ({options}) {execute}".replace("%", "%%")).all()
    finally:
        conn.exec_driver_sql("DEALLOCATE fixflow_generic")
    return f"(generic plan, plan_cache_mode = {READ_PLAN_CACHE_MODE})\n" + "\n".join(r[0] for r in rows)
