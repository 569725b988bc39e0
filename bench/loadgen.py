"""Load generators: wrk (preferred, C, light on the CPU) and a Python asyncio + httpx fallback.

Both take the same input — per-client request lists — and report the same figures. A client walks its
own list in order and wraps around; lists of one-shot writes (transitions) are long enough for the
duration, and the runner reports when one ran out.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str
    p90_ms: float = 0.0
    max_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str | None:
    """wrk from Debian when missing and we are root; None means: use the Python generator."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def install() -> None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=False, capture_output=True)

    install()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
        install()
    return shutil.which("wrk")


# ------------------------------------------------------------------------------------------------- wrk


def _lua_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string literal is a valid Lua string literal


def _lua_request(req: Req) -> str:
    headers = dict(req.headers)
    body = "nil"
    if req.body is not None:
        headers["Content-Type"] = "application/json"
        body = _lua_str(json.dumps(req.body, ensure_ascii=False))
    lua_headers = ", ".join(f"[{_lua_str(k)}]={_lua_str(v)}" for k, v in headers.items())
    return f"{{{_lua_str(req.method)}, {_lua_str(req.path)}, {{{lua_headers}}}, {body}}}"


WRK_SCRIPT = """
local data = {
%(clients)s
}
local threads = %(threads)d
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  mine = {}
  -- this thread's clients' lists, interleaved so every client advances in its own order
  local lists = {}
  for c = 1, #data do
    if (c - 1) %% threads == tid then table.insert(lists, data[c]) end
  end
  local longest = 0
  for _, l in ipairs(lists) do if #l > longest then longest = #l end end
  for i = 1, longest do
    for _, l in ipairs(lists) do
      local r = l[(i - 1) %% #l + 1]
      table.insert(mine, wrk.format(r[1], r[2], r[3], r[4]))
    end
  end
  pos = 0
  sent = 0
end
function request()
  pos = pos %% #mine + 1
  sent = sent + 1
  return mine[pos]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write("WRK-JSON ", string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(wrk: str, base_url: str, lists: list[list[Req]], duration: float, threads: int = 2) -> LoadResult:
    # One function per client: Lua allows at most 65,536 constants per function.
    clients = ",\n".join(
        "(function() return {" + ",\n".join(_lua_request(r) for r in reqs) + "} end)()" for reqs in lists
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as fh:
        fh.write(WRK_SCRIPT % {"clients": clients, "threads": threads})
        script = fh.name
    try:
        out = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{len(lists)}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                script,
                base_url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
        )
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line.removeprefix("WRK-JSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        tool="wrk",
        p90_ms=data["p90_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


# ---------------------------------------------------------------------------------------------- python


def run_python(base_url: str, lists: list[list[Req]], duration: float) -> LoadResult:
    return asyncio.run(_run_python(base_url, lists, duration))


async def _run_python(base_url: str, lists: list[list[Req]], duration: float) -> LoadResult:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=len(lists), max_keepalive_connections=len(lists))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def worker(reqs: list[Req]) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < deadline:
                r = reqs[i % len(reqs)]
                i += 1
                t0 = time.perf_counter()
                try:
                    resp = await client.request(r.method, r.path, headers=r.headers, json=r.body)
                    if resp.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(reqs) for reqs in lists))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return LoadResult(
        len(latencies),
        elapsed,
        pct(0.50),
        pct(0.99),
        errors,
        "python-httpx",
        p90_ms=pct(0.90),
        max_ms=pct(1.0),
    )
