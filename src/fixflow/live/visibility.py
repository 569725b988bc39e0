"""Which of many open streams may see which changed tickets — few statements, the ONE predicate.

Every stream's actor is turned into a SQL boolean expression by
:func:`fixflow.tickets.queries.visible_tickets_predicate`, compiled once with the actor's values
inlined (they are integers and booleans from the actor, never user text). Actors whose predicates
compile to the same text (e.g. all dispatchers of a tenant) share one expression.

The distinct expressions are kept in fixed groups of up to :data:`GROUP_SIZE`; checking changed
tickets against a group is one ``SELECT tickets.id, CASE WHEN <expr1> …, CASE WHEN <expr2> … FROM
tickets WHERE tickets.id IN (?, …)`` — an index lookup per ticket and one boolean column per actor.
A group's text only changes when its members do, and ticket ids are bound parameters padded to a
few fixed counts, so the database parses/plans each statement once and then reuses it (SQLite's
statement cache, psycopg's prepared statements). Measured with 951 distinct customers: ~1 ms per
check instead of ~40 ms re-parsing, and instead of one query per stream per event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Connection, select
from sqlalchemy.engine import Dialect

from fixflow.accounts.actor import Actor
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import visible_tickets_predicate

_PREFIX = "SELECT "
_SUFFIX = " AS v \nFROM tickets"
#: Expressions per statement (PostgreSQL allows 1,664 target entries, SQLite 2,000 columns).
GROUP_SIZE = 400
#: Ticket-id counts a statement is prepared for; a batch is padded up to the next one.
ID_BUCKETS = (1, 4, 16, 64, 256)


@lru_cache(maxsize=8192)
def visibility_sql(actor: Actor, dialect: Dialect) -> str:
    """The actor's visibility predicate as SQL over ``tickets``.

    It is compiled inside a ``SELECT … FROM tickets`` so that correlated sub-queries (executors,
    colleagues) correlate with the outer ``tickets`` row, then cut out of that statement.
    """
    stmt = select(visible_tickets_predicate(actor).label("v")).select_from(Ticket.__table__)
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if not (sql.startswith(_PREFIX) and sql.endswith(_SUFFIX)):
        raise RuntimeError(f"unexpected shape of the compiled visibility predicate: {sql[:200]!r}")
    return sql[len(_PREFIX) : -len(_SUFFIX)]


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple[int, ...]
    slots: tuple[str, ...]  # the expression behind each boolean column ("" for a free slot)


@dataclass
class _Group:
    slots: list[str] = field(default_factory=list)  # "" marks a free slot (evaluates nothing)
    statements: dict[int, str] = field(default_factory=dict)  # id bucket -> SQL text


class PredicateGroups:
    """The distinct expressions in use, reference-counted, in statement groups of stable text."""

    def __init__(self, dialect: Dialect, *, group_size: int = GROUP_SIZE) -> None:
        self.group_size = group_size
        self._placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        self._escape_percent = dialect.paramstyle in ("format", "pyformat")
        self._groups: list[_Group] = []
        self._where: dict[str, tuple[int, int]] = {}
        self._refs: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._refs)

    def acquire(self, expression: str) -> None:
        if expression in self._refs:
            self._refs[expression] += 1
            return
        self._refs[expression] = 1
        if expression in self._where:  # released earlier, still in its slot: nothing changes
            return
        group_no, slot_no = self._free_slot()
        group = self._groups[group_no]
        group.slots[slot_no] = expression
        group.statements.clear()  # the text changed: re-rendered (and re-prepared) on next use
        self._where[expression] = (group_no, slot_no)

    def release(self, expression: str) -> None:
        """The slot keeps the expression until it is needed for another, so the text stays stable."""
        count = self._refs.get(expression, 0) - 1
        if count > 0:
            self._refs[expression] = count
        else:
            self._refs.pop(expression, None)

    def _free_slot(self) -> tuple[int, int]:
        for group_no, group in enumerate(self._groups):
            for slot_no, held in enumerate(group.slots):
                if held == "" or held not in self._refs:
                    if held:
                        del self._where[held]
                    return group_no, slot_no
            if len(group.slots) < self.group_size:
                group.slots.append("")
                return group_no, len(group.slots) - 1
        self._groups.append(_Group(slots=[""]))
        return len(self._groups) - 1, 0

    def groups_of(self, expressions: Iterable[str]) -> set[int]:
        return {self._where[e][0] for e in expressions if e in self._where}

    def plan(self, group_numbers: Iterable[int], ticket_ids: Iterable[int]) -> list[Query]:
        """The statements checking ``ticket_ids`` against the groups, snapshotted: the plan can run
        in another thread while streams keep coming and going."""
        ids = sorted({int(i) for i in ticket_ids})
        queries = []
        for group_no in sorted(group_numbers):
            group = self._groups[group_no]
            for start in range(0, len(ids), ID_BUCKETS[-1]):
                chunk = ids[start : start + ID_BUCKETS[-1]]
                bucket = next(b for b in ID_BUCKETS if b >= len(chunk))
                sql = group.statements.get(bucket) or self._render(group, bucket)
                params = tuple(chunk + [chunk[-1]] * (bucket - len(chunk)))
                queries.append(Query(sql, params, tuple(group.slots)))
        return queries

    def _render(self, group: _Group, bucket: int) -> str:
        columns = ", ".join(f"CASE WHEN {e} THEN 1 ELSE 0 END" if e else "0" for e in group.slots)
        if self._escape_percent:
            columns = columns.replace("%", "%%")
        marks = ", ".join([self._placeholder] * bucket)
        # Not user input: the expressions are compiled from actor ids, the ticket ids are bound.
        sql = f"SELECT tickets.id, {columns} FROM tickets WHERE tickets.id IN ({marks})"  # noqa: S608
        group.statements[bucket] = sql
        return sql


def run_plan(connection: Connection, queries: Iterable[Query]) -> set[tuple[str, int]]:
    """``(expression, ticket_id)`` for every expression of the plan that admits the ticket."""
    found: set[tuple[str, int]] = set()
    for query in queries:
        for row in connection.exec_driver_sql(query.sql, query.params):
            ticket_id = int(row[0])
            for expression, flag in zip(query.slots, row[1:], strict=True):
                if flag and expression:
                    found.add((expression, ticket_id))
    return found


def visible_pairs(
    connection: Connection, expressions: Sequence[str], ticket_ids: Iterable[int]
) -> set[tuple[str, int]]:
    """One-off check of arbitrary expressions (no statement reuse); for tools and tests."""
    groups = PredicateGroups(connection.dialect)
    for expression in expressions:
        groups.acquire(expression)
    return run_plan(connection, groups.plan(groups.groups_of(expressions), ticket_ids))


@dataclass
class _Decision:
    expires: float
    checked: set[str] = field(default_factory=set)
    visible: set[str] = field(default_factory=set)


class VisibilityCache:
    """Per ticket: which compiled predicates were checked, and which of them admit it."""

    def __init__(self, ttl: float, max_tickets: int) -> None:
        self.ttl = ttl
        self.max_tickets = max_tickets
        self._entries: OrderedDict[int, _Decision] = OrderedDict()

    def invalidate(self, ticket_id: int) -> None:
        self._entries.pop(ticket_id, None)

    def known(self, ticket_id: int, now: float) -> _Decision | None:
        entry = self._entries.get(ticket_id)
        if entry is None or entry.expires <= now:
            self._entries.pop(ticket_id, None)
            return None
        return entry

    def store(self, ticket_id: int, checked: Iterable[str], visible: Iterable[str], now: float) -> None:
        entry = self.known(ticket_id, now)
        if entry is None:
            entry = self._entries[ticket_id] = _Decision(expires=now + self.ttl)
        entry.checked.update(checked)
        entry.visible.update(visible)
        self._entries.move_to_end(ticket_id)
        while len(self._entries) > self.max_tickets:
            self._entries.popitem(last=False)
