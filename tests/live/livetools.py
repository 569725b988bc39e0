"""Shared helpers of the live-update tests: real server processes and SSE readers."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from builders import PASSWORD
from fixflow.accounts.models import Member
from fixflow.accounts.service import issue_session
from fixflow.config import Settings
from fixflow.core.db import Database
from serverproc import uvicorn_command

REDIS_URL = os.environ.get("FIXFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ARRIVAL_TIMEOUT = 8.0

IssueToken = Callable[..., str]


def token_issuer(database: Database) -> IssueToken:
    """Committed auth sessions for the people of a world (``kind="web"`` for the app's cookie).

    (A helper, not a conftest fixture: a second ``conftest`` module would shadow the root one for
    tests that import from it.)"""

    def issue(person: object, *, kind: str = "api") -> str:
        member_id = person.id  # type: ignore[attr-defined]
        with database.session(write=True) as session:
            member = session.scalar(select(Member).where(Member.id == member_id))
            assert member is not None
            settings = Settings(env="test", database_url=database.url)
            return issue_session(session, settings, member, kind=kind).token

    return issue


def private_channel() -> str:
    """A Redis channel nobody else uses (concurrent runs on one Redis never cross); skips the test
    when Redis is not reachable."""
    if not redis_available():
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return f"fixflow-test:{uuid.uuid4().hex}"


def redis_available() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(
    database_url: str, log_dir: Path, *, worker: bool, redis_url: str = "", channel: str = ""
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FIXFLOW_ENV": "test",
        "FIXFLOW_DATABASE_URL": database_url,
        "FIXFLOW_DATA_DIR": str(log_dir),
        "FIXFLOW_RUN_WORKER_IN_PROCESS": "true" if worker else "false",
        "FIXFLOW_WORKER_POLL_SECONDS": "0.3",
        "FIXFLOW_REDIS_URL": redis_url,
        "FIXFLOW_LIVE_CHANNEL": channel,
    }
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            uvicorn_command(port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail("server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SseReader:
    """Reads one event stream in a thread; ``wait_for`` picks out matching events."""

    def __init__(
        self, url: str, *, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None
    ):
        self.url, self.headers, self.cookies = url, headers or {}, cookies or {}
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None), cookies=self.cookies)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with (
            contextlib.suppress(Exception),
            self._client.stream("GET", self.url, headers=self.headers) as response,
        ):
            self.status = response.status_code
            name, data = "", list[str]()
            for line in response.iter_lines():
                if line == "":
                    if name:
                        self.events.put((name, json.loads("\n".join(data)) if data else {}))
                    name, data = "", list[str]()
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def wait_for(
        self, name: str, ticket_id: int | None = None, timeout: float = ARRIVAL_TIMEOUT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got_name, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got_name == name and (ticket_id is None or data.get("ticket_id") == ticket_id):
                return data
        raise AssertionError(f"no {name} event for ticket {ticket_id} within {timeout}s")

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


def api_login(base: str, login: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"login": login, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
