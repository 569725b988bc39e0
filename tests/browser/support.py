"""Shared machinery of the browser tests: a real ``uvicorn`` process serving the demo data, an
in-process SMTP server, Debian's Chromium driven by Playwright, and a phone-sized page that collects
console errors and saves screenshots.

Import the fixtures explicitly (``from support import app_server, browser, screen``) — a per-directory
``conftest`` module would shadow the root one for tests that ``from conftest import``.

* The server is started once per test run (a process-wide singleton behind module-scoped fixtures)
  on a fresh database: SQLite in a temporary directory, or a new PostgreSQL database when
  ``FIXFLOW_TEST_DB=postgres`` (dropped at the end), migrated, with the demo data of ``fixflow demo``.
* Tests change the demo data (favourites, transitions, new tickets), so none relies on another's
  leftovers: expected lists are read from the database at the moment of the check, and tests that
  need a ticket in some stage drive a new one there through the REST API.
* Screenshots go to ``test-artifacts/screenshots/`` (git-ignored; worth keeping as a CI artifact).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, or_, select, text
from sqlalchemy.orm import Session

from fixflow.catalogs.models import WorkType
from fixflow.core.db import Database
from fixflow.core.migrate import upgrade_database
from fixflow.demo import DEMO_PASSWORD, create_demo, demo_member
from fixflow.models import Base
from fixflow.notifications.models import SmsMessage
from fixflow.tenants.models import Company, Tenant
from serverproc import uvicorn_command
from smtp import ReceivedMail, SmtpServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 360, "height": 740}
TIMEOUT_MS = 10_000
UPLOAD_MAX_BYTES = 1024 * 1024  # small, so the create form can be refused a file quickly
WAIT_SECONDS = 15.0
PASSWORD = DEMO_PASSWORD
INVITE_PATH = "/app/invite/"

# The demo people (README «Demo logins»).
RAISA = "+79000000011"  # customer_admin of «Кафе Ромашка»
ANNA = "anna@romashka.test"  # customer of «Кафе Ромашка», approver of one ticket
ZAKHAR = "+79000000021"  # customer of «Аптека Здоровье»
DISPATCHER = "dispatcher@demo.fixflow"
EXECUTOR = "+79000000001"

BACKEND = os.environ.get("FIXFLOW_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "FIXFLOW_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# --- the REST API, as staff or customers ---------------------------------------------------------------
class Api:
    """One signed-in API client of the running server."""

    def __init__(self, base_url: str, login: str, password: str = PASSWORD) -> None:
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=15)
        response = self.client.post("/auth/login", json={"login": login, "password": password})
        assert response.status_code == 200, response.text
        self.member_id = int(response.json()["member"]["id"])
        self.client.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/tickets/{ticket_id}"))

    def transition(self, ticket_id: int, label: str, comment: str | None = None) -> dict[str, Any]:
        ticket = self.ticket(ticket_id)
        offered = {t["label"]: t["id"] for t in self.call("GET", f"/tickets/{ticket_id}/transitions")}
        assert label in offered, f"«{label}» not offered on ticket {ticket_id}: {sorted(offered)}"
        body = {"transition_id": offered[label], "version": ticket["version"], "comment": comment}
        return dict(self.call("POST", f"/tickets/{ticket_id}/transitions", json=body))

    def update(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        body = {"version": self.ticket(ticket_id)["version"], **changes}
        return dict(self.call("PATCH", f"/tickets/{ticket_id}", json=body))

    def close(self) -> None:
        self.client.close()


# --- the server process -----------------------------------------------------------------------------
@dataclass
class AppServer:
    base_url: str
    database: Database
    smtp: SmtpServer
    log_path: Path
    apis: dict[str, Api] = field(default_factory=dict)

    def api(self, login: str, password: str = PASSWORD) -> Api:
        """A cached API session of a login (the demo logins' password is ``demo``)."""
        if login not in self.apis:
            self.apis[login] = Api(self.base_url, login, password)
        return self.apis[login]

    def session(self) -> contextlib.AbstractContextManager[Session]:
        return self.database.session()

    def member_id(self, login: str) -> int:
        with self.session() as session:
            member = demo_member(session, login)
            assert member is not None, login
            return member.id

    def company_id(self, name: str) -> int:
        with self.session() as session:
            found = session.scalar(select(Company.id).where(Company.name == name))
            assert found is not None, name
            return found

    def demo_tenant_id(self) -> int:
        with self.session() as session:
            found = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
            assert found is not None
            return found

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    # --- what the server sent ----------------------------------------------------------------------
    def mail_count(self, address: str) -> int:
        return len(self.smtp.to(address))

    def wait_mail(self, address: str, *, after: int = 0, timeout: float = WAIT_SECONDS) -> ReceivedMail:
        """The first message to ``address`` beyond the ``after`` already there (the worker sends it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.smtp.to(address)
            if len(found) > after:
                return found[after]
            time.sleep(0.1)
        raise AssertionError(f"no e-mail to {address} within {timeout}s\n{self.log_tail()}")

    def last_sms_id(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.coalesce(func.max(SmsMessage.id), 0))) or 0)

    def wait_sms(self, phone: str, *, after_id: int, timeout: float = WAIT_SECONDS) -> str:
        """The text of the first SMS to ``phone`` (E.164) stored after ``after_id``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.session() as session:
                found = session.scalar(
                    select(SmsMessage.text)
                    .where(SmsMessage.phone == phone, SmsMessage.id > after_id)
                    .order_by(SmsMessage.id)
                    .limit(1)
                )
            if found is not None:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no SMS to {phone} within {timeout}s\n{self.log_tail()}")

    # --- tickets through the API -------------------------------------------------------------------
    def new_ticket(self, login: str, description: str, *, company: str = "Кафе Ромашка") -> int:
        """A ticket filed by a customer (through :meth:`api`, so a demo login or one used there
        before) on the first piece of equipment of their company."""
        from fixflow.objects.models import ServiceObject

        with self.session() as session:
            object_id = session.scalar(
                select(ServiceObject.id)
                .where(
                    ServiceObject.company_id == self.company_id(company), ServiceObject.parent_id.is_not(None)
                )
                .order_by(ServiceObject.id)
                .limit(1)
            )
            type_id = self._default_type_id(session)
        body = {"type_id": type_id, "object_id": object_id, "description": description}
        return int(self.api(login).call("POST", "/tickets", expect=201, json=body)["id"])

    def _default_type_id(self, session: Session) -> int:
        from fixflow.catalogs.models import TicketType

        found = session.scalar(
            select(TicketType.id).where(TicketType.tenant_id == self.demo_tenant_id()).order_by(TicketType.id)
        )
        assert found is not None
        return found

    def drive(self, ticket_id: int, stage: str) -> None:
        """Move a new ticket along the default lifecycle to «В работе» or «Работы выполнены»."""
        dispatcher, executor = self.api(DISPATCHER), self.api(EXECUTOR)
        dispatcher.update(ticket_id, executor_ids=[executor.member_id])
        dispatcher.transition(ticket_id, "Назначить")
        executor.transition(ticket_id, "Принять")
        executor.transition(ticket_id, "Начать работу")
        if stage == "В работе":
            return
        assert stage == "Работы выполнены", stage
        with self.session() as session:
            work_type = session.scalar(
                select(WorkType.id).where(WorkType.tenant_id == self.demo_tenant_id()).order_by(WorkType.id)
            )
        body = {"work_type_id": work_type, "duration_minutes": 45, "comment": "Заменён датчик"}
        executor.call("POST", f"/tickets/{ticket_id}/works", expect=201, json=body)
        executor.transition(ticket_id, "Завершить работы")


def _fresh_database_url(tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    if BACKEND == "sqlite":
        return f"sqlite:///{tmp_dir / 'browser.db'}", lambda: None
    name = f"fixflow_browser_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


def prepare_database(url: str) -> None:
    """Migrate, add the tables whose migration is not written yet (as tests/conftest.py does), demo."""
    upgrade_database(url)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    database = Database(url)
    try:
        with database.session(write=True) as session:
            create_demo(session)
    finally:
        database.dispose()


def _server_env(url: str, data_dir: Path, base_url: str, smtp: SmtpServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIXFLOW_")}
    env.update(
        {
            "FIXFLOW_ENV": "test",
            "FIXFLOW_DATABASE_URL": url,
            "FIXFLOW_DATA_DIR": str(data_dir),
            "FIXFLOW_BASE_URL": base_url,
            "FIXFLOW_SMTP_HOST": smtp.host,
            "FIXFLOW_SMTP_PORT": str(smtp.port),
            "FIXFLOW_SMTP_STARTTLS": "false",
            "FIXFLOW_SMTP_TLS": "false",
            "FIXFLOW_SMS_PROVIDER": "outbox",
            "FIXFLOW_RUN_WORKER_IN_PROCESS": "true",
            "FIXFLOW_WORKER_POLL_SECONDS": "0.2",
            "FIXFLOW_REDIS_URL": "",
            "FIXFLOW_UPLOAD_MAX_BYTES": str(UPLOAD_MAX_BYTES),
        }
    )
    return env


@contextlib.contextmanager
def running_server(tmp_dir: Path) -> Iterator[AppServer]:
    url, drop = _fresh_database_url(tmp_dir)
    smtp = SmtpServer()
    proc: subprocess.Popen[bytes] | None = None
    database: Database | None = None
    try:
        prepare_database(url)
        smtp.start()
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log_path = ARTIFACTS / "browser-server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                uvicorn_command(port),
                env=_server_env(url, tmp_dir, base_url, smtp),
                cwd=tmp_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_ready(proc, base_url, log_path)
        database = Database(url)
        server = AppServer(base_url=base_url, database=database, smtp=smtp, log_path=log_path)
        try:
            yield server
        finally:
            for api in server.apis.values():
                api.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if database is not None:
            database.dispose()
        with contextlib.suppress(Exception):
            smtp.stop()
        drop()


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited:\n{log_path.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail("the server did not become ready within 60 s")
        time.sleep(0.1)


_SERVER: list[AppServer] = []


@pytest.fixture(scope="module")
def app_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    """One server for the whole run, started by the first browser module that needs it."""
    require_chromium()
    if not _SERVER:
        stack = contextlib.ExitStack()
        _SERVER.append(stack.enter_context(running_server(tmp_path_factory.mktemp("browser-server"))))
        # The session node is torn down last: the server outlives every browser module.
        request.session.addfinalizer(stack.close)
        request.session.addfinalizer(_SERVER.clear)
    return _SERVER[0]


# --- the browser ------------------------------------------------------------------------------------
def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian: apt-get install chromium); browser tests skipped")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, one per test module (Playwright's sync API allows one driver at a time)."""
    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def shot_name(text: str) -> str:
    """``test_x[ru]--form`` → ``test_x-ru--form`` (a file name without brackets)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text.replace("[", "-").replace("]", "")).strip("-")


class Screen:
    """A phone-sized browser tab of one person: collects console and page errors, takes screenshots."""

    def __init__(self, browser: Any, server: AppServer, name: str, locale: str) -> None:
        self.server, self.name = server, name
        self.context = browser.new_context(
            base_url=server.base_url,
            viewport=VIEWPORT,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="en-GB" if locale == "en" else "ru-RU",
            timezone_id="Europe/Moscow",
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def allow_status(self, *statuses: int) -> None:
        """The test expects these HTTP answers (e.g. a 404 page): the browser logs them as errors."""
        for status in statuses:
            self.allowed.append(re.compile(rf"status of {status}\b"))

    def allow(self, pattern: str) -> None:
        """An error message the test expects (e.g. failed requests while offline)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def shot(self, label: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{shot_name(self.name + ('--' + label if label else ''))}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    # --- common steps ------------------------------------------------------------------------------
    def login(self, login: str, password: str = PASSWORD) -> None:
        page = self.page
        page.goto("/app/login")
        page.fill("#login", login)
        page.fill("#password", password)
        page.click("[data-testid=login-submit]")
        page.wait_for_url(re.compile(r"/app/tickets"))

    def card_numbers(self) -> list[str]:
        return [
            str(n)
            for n in self.page.locator("[data-testid=ticket-list] [data-testid=ticket-card]").evaluate_all(
                "cards => cards.map(c => c.dataset.number)"
            )
        ]

    def card(self, ticket_id: int) -> Any:
        return self.page.locator(f'[data-testid=ticket-card][data-ticket-id="{ticket_id}"]')

    def close(self) -> None:
        self.context.close()


ScreenFactory = Callable[..., Screen]


@pytest.fixture
def screen(browser: Any, app_server: AppServer, request: pytest.FixtureRequest) -> Iterator[ScreenFactory]:
    """``screen(locale="ru")`` opens a fresh phone-sized tab (own cookies); on teardown each tab is
    photographed (``test-artifacts/screenshots/<test>.png``) and must have logged no errors."""
    opened: list[Screen] = []

    def open_screen(locale: str = "ru", label: str = "") -> Screen:
        name = request.node.name + (f"--{label}" if label else "")
        tab = Screen(browser, app_server, name, locale)
        opened.append(tab)
        return tab

    yield open_screen
    problems: list[str] = []
    for tab in opened:
        with contextlib.suppress(Exception):
            tab.shot()
        problems += [f"{tab.name}: {e}" for e in tab.unexpected_errors()]
        tab.close()
    assert not problems, "\n".join(problems)


# --- new people (tests that change a password or a language never touch the demo logins) ------------
@dataclass(frozen=True)
class Customer:
    member_id: int
    email: str | None
    phone: str | None
    name: str


def unique_email() -> str:
    return f"browser-{uuid.uuid4().hex[:10]}@example.test"


def unique_phone() -> str:
    return f"+7901{uuid.uuid4().int % 10**7:07d}"


def new_customer(
    server: AppServer,
    *,
    email: str | None = None,
    phone: str | None = None,
    company: str = "Кафе Ромашка",
    invite: bool = True,
) -> Customer:
    """A customer of ``company`` created by the dispatcher through the API (invited unless told not)."""
    first = f"Тест{uuid.uuid4().hex[:4]}"
    body = {
        "email": email,
        "phone": phone,
        "last_name": "Браузеров",
        "first_name": first,
        "role_codes": ["customer"],
        "company_ids": [server.company_id(company)],
        "invite": invite,
    }
    created = server.api(DISPATCHER).call("POST", "/members", expect=201, json=body)
    return Customer(int(created["id"]), email, phone, str(created["name"]))


def customer_with_password(
    server: AppServer,
    password: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    via: str = "email",
) -> Customer:
    """A customer who has accepted the invitation (through the API) and can log in.

    ``via`` is the channel whose link is used: it marks that e-mail or phone as verified (a login
    code is only sent to a verified phone).
    """
    if via == "email":
        email = email or unique_email()
    else:
        phone = phone or unique_phone()
    customer = new_customer(server, email=email, phone=phone)
    # Wait for every invitation message, so later waits only see what the test asks for.
    mail = server.wait_mail(email) if email else None
    sms = server.wait_sms(phone, after_id=0) if phone else None
    if via == "email":
        assert mail is not None
        token = mail.link(INVITE_PATH).rsplit("/", 1)[1]
    else:
        found = re.search(re.escape(INVITE_PATH) + r"([A-Za-z0-9_\-]+)", sms or "")
        assert found, sms
        token = found.group(1)
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/invitations/accept",
        json={"token": token, "password": password},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return customer


# --- what the database says (expected list contents) ---------------------------------------------------
PAGE_SIZE = 25  # the lists' keyset page (fixflow.core.pagination.DEFAULT_LIMIT)


def expected_numbers(server: AppServer, login: str, tab: str) -> list[str]:
    """The ticket numbers a customer's tab must show (first page), worked out from the tables.

    Written independently of ``fixflow.tickets.queries`` on purpose: a customer sees the tickets they
    filed or must approve; a customer_admin every ticket of their company; «Согласование» holds the
    tickets in the approval stage with them as the approver.
    """
    from fixflow.accounts.models import MemberCompany, MemberRole, Role
    from fixflow.tickets.models import Favorite, Ticket
    from fixflow.workflow.models import Stage

    with server.session() as session:
        me = demo_member(session, login)
        assert me is not None, login
        roles = set(
            session.scalars(
                select(Role.code)
                .join(MemberRole, MemberRole.role_id == Role.id)
                .where(MemberRole.member_id == me.id)
            )
        )
        companies = list(
            session.scalars(select(MemberCompany.company_id).where(MemberCompany.member_id == me.id))
        )
        visible = [Ticket.initiator_id == me.id, Ticket.approver_member_id == me.id]
        if "customer_admin" in roles:
            visible.append(Ticket.company_id.in_(companies))
        stmt = select(Ticket.number).where(Ticket.deleted_at.is_(None), or_(*visible))
        open_ = Ticket.closed_at.is_(None)
        match tab:
            case "mine":
                stmt = stmt.where(Ticket.initiator_id == me.id, open_)
            case "approval":
                approval_stages = select(Stage.id).where(Stage.name == "Согласование")
                stmt = stmt.where(
                    Ticket.approver_member_id == me.id, Ticket.stage_id.in_(approval_stages), open_
                )
            case "all":
                stmt = stmt.where(open_)
            case "favorites":
                mine = select(Favorite.ticket_id).where(Favorite.member_id == me.id)
                stmt = stmt.where(Ticket.id.in_(mine))
            case "archive":
                stmt = stmt.where(Ticket.closed_at.is_not(None))
        order = (Ticket.closed_at.desc(), Ticket.id.desc()) if tab == "archive" else (Ticket.id.desc(),)
        return list(session.scalars(stmt.order_by(*order).limit(PAGE_SIZE)))


def ticket_ids_of_company(server: AppServer, company: str) -> list[int]:
    from fixflow.tickets.models import Ticket

    with server.session() as session:
        return list(session.scalars(select(Ticket.id).where(Ticket.company_id == server.company_id(company))))


def ticket_number(server: AppServer, ticket_id: int) -> str:
    from fixflow.tickets.models import Ticket

    with server.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.number


def tr(locale: str, ru: str, en: str) -> str:
    """The text a screen shows in ``locale``."""
    return en if locale == "en" else ru
