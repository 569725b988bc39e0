"""How busy the machine is with work that is not ours, so a noisy measurement is visible as such.

"Ours" is this process tree (the runner, wrk, the server and its workers, reaped children included) plus
the PostgreSQL backends connected to the bench database. Everything else that burns CPU meanwhile —
another test suite, say — is "foreign" and is reported next to each figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def _busy_jiffies() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd on; the name may contain spaces


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _cpu_jiffies(pid: int, *, with_reaped_children: bool) -> int:
    fields = _stat(pid)
    if fields is None:
        return 0
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if with_reaped_children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used


def process_tree(root: int) -> set[int]:
    """A process and its live descendants."""
    return _descendants(root)


def cpu_ms(pids: Iterable[int]) -> float:
    """CPU used so far by these live processes (user + system), in ms."""
    return sum(_cpu_jiffies(pid, with_reaped_children=False) for pid in pids) / HZ * 1000


@dataclass(frozen=True)
class Snapshot:
    at: float
    busy: int
    ours: int
    server: int  # the server's processes and the database backends only
    workers: dict[int, int]  # CPU per server worker process (the server's direct children)


class CpuMeter:
    def __init__(self, server_pid: int, db_pids: Callable[[], set[int]] = set) -> None:
        self.root = os.getpid()
        self.server_pid = server_pid
        self.db_pids = db_pids

    def snapshot(self) -> Snapshot:
        server_side = _descendants(self.server_pid) | self.db_pids()
        server = sum(_cpu_jiffies(pid, with_reaped_children=False) for pid in server_side)
        ours = _cpu_jiffies(self.root, with_reaped_children=True) + server
        for pid in _descendants(self.root) - {self.root} - server_side:
            ours += _cpu_jiffies(pid, with_reaped_children=False)
        workers = {
            pid: _cpu_jiffies(pid, with_reaped_children=False)
            for pid in _descendants(self.server_pid)
            if pid != self.server_pid
        }
        return Snapshot(time.monotonic(), _busy_jiffies(), ours, server, workers)

    @staticmethod
    def worker_split(start: Snapshot, end: Snapshot) -> str:
        """How the server's CPU fell on its worker processes, e.g. "71/29" (uneven = one core idles)."""
        used = sorted((end.workers[pid] - start.workers.get(pid, 0) for pid in end.workers), reverse=True)
        total = sum(used)
        return "/".join(f"{100 * u / total:.0f}" for u in used if u) if total else "-"

    @staticmethod
    def server_cpu_ms(start: Snapshot, end: Snapshot) -> float:
        return (end.server - start.server) / HZ * 1000

    @staticmethod
    def foreign_cores(start: Snapshot, end: Snapshot) -> float:
        """CPU cores kept busy by others between two snapshots."""
        seconds = max(end.at - start.at, 1e-3)
        return max(0.0, ((end.busy - start.busy) - (end.ours - start.ours)) / HZ / seconds)

    def wait_quiet(self, *, below: float = 0.2, limit: float = 120.0) -> float:
        """Wait until others use under ``below`` cores for two seconds running; returns the last figure."""
        deadline, calm, figure = time.monotonic() + limit, 0, 0.0
        while time.monotonic() < deadline:
            start = self.snapshot()
            time.sleep(1.0)
            figure = self.foreign_cores(start, self.snapshot())
            calm = calm + 1 if figure < below else 0
            if calm >= 2:
                break
        return figure
