"""Two versions of the server side by side under the same load, interleaved (figures only).

    .venv/bin/python bench/compare.py --base 87805b8 --only page_customer_all,customer_all
    .venv/bin/python bench/compare.py --base HEAD~1 --dataset M --rounds 4

This machine's speed drifts by tens of percent within minutes, so two benchmark runs one after the
other compare the hours more than the code. Here both servers run at once on the same database: the
base commit's (its ``src/`` checked out in place only while that server starts and is warmed up, then
restored) and the working tree's; each scenario alternates short wrk runs between them, and each run
reports the server's and PostgreSQL's CPU per request besides req/s. Needs the bench database seeded
(``bench/run.py --seed-only``) and no uncommitted changes under ``src/``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from fixflow.core.db import Database
from loadgen import Req, ensure_wrk, run_wrk
from machine import cpu_ms, process_tree
from run import DATASETS, REPO, database_url, free_port, pg_backends, server
from scenarios import ALL_SCENARIOS, make_context

WARMUP_SECONDS = 2.0


@dataclass
class Run:
    rps: float
    p99_ms: float
    server_ms: float  # server CPU per request
    db_ms: float  # PostgreSQL backends' CPU per request (0 on SQLite: in-process)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the commit to compare the working tree with")
    p.add_argument("--only", required=True, help="comma-separated scenario names (bench/scenarios.py)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="L")
    p.add_argument("--rounds", type=int, default=3, help="runs per side and scenario (default 3)")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per run (default 8)")
    p.add_argument("--clients", type=int, default=16)
    return p.parse_args()


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True)
    return done.stdout


# Where a commit's code lives: src/, and before migrations moved into the package, migrations/ at the
# root (an older server looks for them there).
SOURCE_PATHS = ("src", "migrations")


@contextmanager
def base_sources(commit: str) -> Iterator[None]:
    """The code of ``commit`` in place for the duration of the block, the working tree's restored after."""
    if _git("status", "--porcelain", "--", *SOURCE_PATHS).strip():
        raise SystemExit("src/ has uncommitted changes: commit them first (they would be overwritten)")
    _git("rev-parse", "--verify", f"{commit}^{{commit}}")
    paths = [p for p in SOURCE_PATHS if _git("ls-tree", "--name-only", commit, "--", p).strip()]
    try:
        _git("checkout", commit, "--", *paths)
        yield
    finally:
        _git("reset", "-q", "HEAD", "--", *paths)  # the index as HEAD has it, paths HEAD lacks included
        here = [p for p in paths if _git("ls-tree", "--name-only", "HEAD", "--", p).strip()]
        if here:
            _git("checkout", "HEAD", "--", *here)
        _git("clean", "-fdq", "--", *paths)  # files only the base had


def measure(
    wrk: str, base_url: str, lists: list[list[Req]], server_pid: int, db_pids: set[int], seconds: float
) -> Run:
    ours = process_tree(server_pid)
    before = {pid: cpu_ms([pid]) for pid in ours | db_pids}
    result = run_wrk(wrk, base_url, lists, seconds)
    after = {pid: cpu_ms([pid]) for pid in ours | db_pids}
    # Only processes alive at both ends: a pool connection closed meanwhile took its backend's figure.
    used = {pid: after[pid] - before[pid] for pid in before if after[pid] >= before[pid]}
    requests = max(result.requests, 1)
    server_ms = sum(ms for pid, ms in used.items() if pid in ours)
    db_ms = sum(ms for pid, ms in used.items() if pid in db_pids)
    return Run(result.rps, result.p99_ms, server_ms / requests, db_ms / requests)


def main() -> None:
    args = parse_args()
    backend, _tickets = DATASETS[args.dataset]
    url = database_url(backend)
    names = [n for n in args.only.split(",") if n]
    scenarios = {s.name: s for s in ALL_SCENARIOS}
    unknown = [n for n in names if n not in scenarios or scenarios[n].write]
    if unknown:
        raise SystemExit(f"not a read scenario: {', '.join(unknown)}")
    wrk = ensure_wrk()
    if wrk is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    db = Database(url)
    logs = REPO / "data" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    db_pids = pg_backends(url)
    with ExitStack() as stack, db.session_factory() as session:
        with base_sources(args.base):
            old_url, old_pid = stack.enter_context(server(url, free_port(), logs / "compare-base.log"))
            ctx = make_context(session, old_url, args.clients)
            session.commit()
            lists = {n: [lst for lst in scenarios[n].build(ctx) if lst] for n in names}
            for n in names:  # templates and lazily imported modules loaded while the base is in place
                run_wrk(wrk, old_url, lists[n], WARMUP_SECONDS)
        new_url, new_pid = stack.enter_context(server(url, free_port(), logs / "compare-head.log"))
        sides = {"base": (old_url, old_pid), "tree": (new_url, new_pid)}
        print(f"base = {args.base}, tree = the working tree; {args.rounds} × {args.duration:g} s per side")
        print(f"{'operation':<30}{'side':<6}{'req/s':>8}{'p99 ms':>8}{'server ms':>11}{'db ms':>8}{'×':>7}")
        for n in names:
            for base_url, _pid in sides.values():
                run_wrk(wrk, base_url, lists[n], WARMUP_SECONDS)
            runs: dict[str, list[Run]] = {"base": [], "tree": []}
            pids = db_pids()
            for r in range(args.rounds):
                for side in ("base", "tree") if r % 2 == 0 else ("tree", "base"):
                    base_url, pid = sides[side]
                    runs[side].append(measure(wrk, base_url, lists[n], pid, pids, args.duration))
            rps = {side: statistics.mean(x.rps for x in got) for side, got in runs.items()}
            for side, got in runs.items():
                ratio = f"{rps[side] / rps['base']:6.2f}" if side == "tree" else ""
                print(
                    f"{n:<30}{side:<6}{rps[side]:>8,.0f}{statistics.mean(x.p99_ms for x in got):>8.1f}"
                    f"{statistics.mean(x.server_ms for x in got):>11.2f}"
                    f"{statistics.mean(x.db_ms for x in got):>8.2f}{ratio:>7}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
