"""Counting the SQL statements a piece of code runs (N+1 regressions fail tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from fixflow.core.db import Database


class QueryCounter:
    """Counts on every engine of the database at ``with`` time (the app's async read engine too)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.engines: list[Engine] = []
        self.statements: list[str] = []
        self.parameters: list[Any] = []  # each statement's, as sent to the driver

    def _on_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")):
            self.statements.append(statement)
            self.parameters.append(parameters)

    def __enter__(self) -> QueryCounter:
        self.statements.clear()
        self.parameters.clear()
        self.engines = self.database.engines()
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._on_execute)

    @property
    def count(self) -> int:
        return len(self.statements)
