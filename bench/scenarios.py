"""The load scenarios: who asks for what, built from the bench tenant's real ids.

Every scenario gives one request list per concurrent client (16 by default); clients act as different
people where the spec talks about "any customer" so no single row stays hot in every cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.models import Account, Member
from fixflow.benchseed import (
    BENCH_PASSWORD,
    BENCH_SLUG,
    customer_admin_login,
    customer_login,
    dispatcher_login,
)
from fixflow.catalogs.models import TicketType
from fixflow.objects.models import ServiceObject
from fixflow.tenants.models import Tenant
from fixflow.tickets.models import Ticket
from fixflow.webapp.web import CSRF_COOKIE, CSRF_FIELD, HOME_URL, LOGIN_URL, SESSION_COOKIE
from fixflow.workflow.models import Stage, Transition
from loadgen import Req

API = "/api/v1"
TRANSITION_POOL = 16 * 600  # tickets; two transitions each, far more than a 10 s run gets through


@dataclass(frozen=True)
class Target:
    """A row of the spec/quality.md performance table."""

    label: str
    min_rps: float | None
    max_p99_ms: float


TARGETS = {
    "list": Target("customer tab / dispatcher list / search by number", 1300, 25),
    "detail": Target("ticket detail", 1000, 20),
    "counters": Target("tab counters", None, 15),
    "write": Target("create ticket / transition", None, 40),
}


@dataclass
class Person:
    login: str
    member_id: int
    company_id: int | None
    token: str = ""
    cookie: str = ""  # the Cookie header of the customer app, as a signed-in browser sends it

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def browser(self) -> dict[str, str]:
        return {"Cookie": self.cookie}


@dataclass
class BenchContext:
    session: Session
    clients: int
    tenant_id: int
    customers: list[Person]
    admins: list[Person]
    dispatcher: Person
    creators: list[Person]  # customers who file tickets in the create scenario
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def each(self, people: list[Person], path: str) -> list[list[Req]]:
        """The same request from every client, each client as a different person (round-robin)."""
        return [[Req("GET", path, people[c % len(people)].auth)] for c in range(self.clients)]


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # key of TARGETS
    build: Callable[[BenchContext], list[list[Req]]]
    write: bool = False  # one-shot requests: no warm-up pass
    html: bool = False  # a customer-app page: every answer must be 200 text/html, not a redirect


def _members_by_login(session: Session, logins: list[str]) -> dict[str, tuple[int, int | None]]:
    from fixflow.accounts.models import MemberCompany

    rows = session.execute(
        select(Account.email, Member.id, MemberCompany.company_id)
        .join(Member, Member.account_id == Account.id)
        .outerjoin(MemberCompany, MemberCompany.member_id == Member.id)
        .where(Account.email.in_(logins))
    ).all()
    return {str(email): (member_id, company_id) for email, member_id, company_id in rows}


def make_context(session: Session, base_url: str, clients: int) -> BenchContext:
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == BENCH_SLUG))
    if tenant_id is None:
        raise SystemExit("no bench tenant: run `fixflow bench seed` first")
    logins = [customer_login(n) for n in range(1, clients + 1)]
    logins += [customer_admin_login(n) for n in range(1, clients + 1)]
    # Other customers file the new tickets, so the tabs measured (and profiled) stay as seeded.
    logins += [customer_login(n) for n in range(clients + 1, 2 * clients + 1)]
    logins.append(dispatcher_login())
    found = _members_by_login(session, logins)
    people = {login: Person(login, *found[login]) for login in logins if login in found}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for person in people.values():
            resp = http.post(f"{API}/auth/login", json={"login": person.login, "password": BENCH_PASSWORD})
            resp.raise_for_status()
            person.token = resp.json()["token"]
        # The page scenarios' people also sign in through the customer app. Always, not only when page
        # scenarios run: the in-process profile replays every scenario. Successful logins are not
        # throttled (only failures count), so this needs no setting on the server.
        web_people = [*logins[: 2 * clients], dispatcher_login()]
        for login in web_people:
            if login in people:
                people[login].cookie = web_login(http, people[login])
    customers = [people[x] for x in logins[:clients] if x in people]
    admins = [people[x] for x in logins[clients : 2 * clients] if x in people]
    creators = [people[x] for x in logins[2 * clients : 3 * clients] if x in people] or customers
    return BenchContext(session, clients, tenant_id, customers, admins, people[dispatcher_login()], creators)


def web_login(http: httpx.Client, person: Person) -> str:
    """Sign in like a browser: the login page (anonymous CSRF cookie), then the form posted with it.

    Returns the Cookie header the browser sends afterwards: the session and the CSRF cookie. Sending
    the CSRF cookie too matters: without it every page would mint and set a new one, work a real
    browser never causes.
    """
    http.cookies.clear()  # one client for everybody: nobody may inherit the previous person's session
    page = http.get(LOGIN_URL)
    csrf = page.cookies.get(CSRF_COOKIE)
    if page.status_code != 200 or not csrf:
        raise SystemExit(f"GET {LOGIN_URL}: {page.status_code}, CSRF cookie {'set' if csrf else 'missing'}")
    # Anonymous forms use a double-submit cookie: the field carries the cookie's value.
    resp = http.post(
        LOGIN_URL,
        data={CSRF_FIELD: csrf, "login": person.login, "password": BENCH_PASSWORD},
        headers={"Cookie": f"{CSRF_COOKIE}={csrf}"},
    )
    session = resp.cookies.get(SESSION_COOKIE)
    if resp.status_code != 303 or resp.headers.get("location") != HOME_URL or not session:
        raise SystemExit(
            f"POST {LOGIN_URL} as {person.login}: {resp.status_code} "
            f"location={resp.headers.get('location')!r}, session cookie {'set' if session else 'missing'}"
        )
    http.cookies.clear()
    return f"{CSRF_COOKIE}={csrf}; {SESSION_COOKIE}={session}"


# ------------------------------------------------------------------------------------------- builders


def _own_tickets(ctx: BenchContext, person: Person, *, open_only: bool, limit: int = 40) -> list[Ticket]:
    stmt = select(Ticket).where(Ticket.initiator_id == person.member_id, Ticket.deleted_at.is_(None))
    if open_only:
        stmt = stmt.where(Ticket.closed_at.is_(None))
    return list(ctx.session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit)))


def _random_tickets(ctx: BenchContext, count: int, *, open_only: bool) -> list[Ticket]:
    """Spread over the whole table, not just the newest page."""
    bounds = (
        ctx.session.execute(
            select(Ticket.id).where(Ticket.tenant_id == ctx.tenant_id).order_by(Ticket.id).limit(1)
        ).scalar_one(),
        ctx.session.execute(
            select(Ticket.id).where(Ticket.tenant_id == ctx.tenant_id).order_by(Ticket.id.desc()).limit(1)
        ).scalar_one(),
    )
    ids = ctx.rng.sample(range(bounds[0], bounds[1] + 1), min(count * 4, bounds[1] - bounds[0] + 1))
    stmt = select(Ticket).where(Ticket.id.in_(ids), Ticket.deleted_at.is_(None))
    if open_only:
        stmt = stmt.where(Ticket.closed_at.is_(None))
    return list(ctx.session.scalars(stmt))[:count]


def _search_customer(ctx: BenchContext) -> list[list[Req]]:
    lists = []
    for c in range(ctx.clients):
        person = ctx.customers[c % len(ctx.customers)]
        numbers = [t.number for t in _own_tickets(ctx, person, open_only=True)] or ["0000"]
        lists.append([Req("GET", f"{API}/tickets?view=all&q={n}", person.auth) for n in numbers])
    return lists


def _search_dispatcher(ctx: BenchContext) -> list[list[Req]]:
    numbers = [t.number for t in _random_tickets(ctx, 50 * ctx.clients, open_only=True)]
    auth = ctx.dispatcher.auth
    return [
        [Req("GET", f"{API}/tickets?view=all&q={n}", auth) for n in numbers[c :: ctx.clients]]
        for c in range(ctx.clients)
    ]


def _detail_customer(ctx: BenchContext) -> list[list[Req]]:
    lists = []
    for c in range(ctx.clients):
        person = ctx.customers[c % len(ctx.customers)]
        ids = [t.id for t in _own_tickets(ctx, person, open_only=False)]
        lists.append([Req("GET", f"{API}/tickets/{i}", person.auth) for i in ids])
    return lists


def _detail_dispatcher(ctx: BenchContext) -> list[list[Req]]:
    ids = [t.id for t in _random_tickets(ctx, 50 * ctx.clients, open_only=False)]
    auth = ctx.dispatcher.auth
    return [
        [Req("GET", f"{API}/tickets/{i}", auth) for i in ids[c :: ctx.clients]] for c in range(ctx.clients)
    ]


def _create(ctx: BenchContext) -> list[list[Req]]:
    type_id = ctx.session.scalar(select(TicketType.id).where(TicketType.tenant_id == ctx.tenant_id))
    lists = []
    for c in range(ctx.clients):
        person = ctx.creators[c % len(ctx.creators)]
        objects = ctx.session.scalars(
            select(ServiceObject.id).where(ServiceObject.company_id == person.company_id).limit(20)
        ).all()
        lists.append(
            [
                Req(
                    "POST",
                    f"{API}/tickets",
                    person.auth,
                    {"type_id": type_id, "object_id": o, "description": f"Бенчмарк: заявка клиента {c}"},
                )
                for o in objects
            ]
        )
    return lists


def _transition(ctx: BenchContext) -> list[list[Req]]:
    """The dispatcher accepts assigned tickets and starts the work on them: two real transitions each.

    Each client owns its tickets; a ticket's second step comes after all of that client's first steps,
    so it never races its own first step.
    """
    stages = {
        s.name: s.id for s in ctx.session.scalars(select(Stage).where(Stage.tenant_id == ctx.tenant_id))
    }
    moves = {
        (t.from_stage_id, t.to_stage_id): t.id
        for t in ctx.session.scalars(select(Transition).where(Transition.tenant_id == ctx.tenant_id))
    }
    accept = moves[(stages["Назначена"], stages["Принята"])]
    start = moves[(stages["Принята"], stages["В работе"])]
    rows = ctx.session.execute(
        select(Ticket.id, Ticket.version)
        .where(
            Ticket.tenant_id == ctx.tenant_id,
            Ticket.stage_id == stages["Назначена"],
            Ticket.deleted_at.is_(None),
        )
        .order_by(Ticket.id.desc())
        .limit(TRANSITION_POOL)
    ).all()
    auth = ctx.dispatcher.auth
    lists = []
    for c in range(ctx.clients):
        mine = rows[c :: ctx.clients]
        first = [
            Req("POST", f"{API}/tickets/{i}/transitions", auth, {"transition_id": accept, "version": v})
            for i, v in mine
        ]
        second = [
            Req("POST", f"{API}/tickets/{i}/transitions", auth, {"transition_id": start, "version": v + 1})
            for i, v in mine
        ]
        lists.append(first + second)
    return lists


def _tab(view: str, who: str) -> Callable[[BenchContext], list[list[Req]]]:
    def build(ctx: BenchContext) -> list[list[Req]]:
        people = {"customer": ctx.customers, "admin": ctx.admins, "dispatcher": [ctx.dispatcher]}[who]
        return ctx.each(people, f"{API}/tickets?view={view}&limit=25")

    return build


SCENARIOS: list[Scenario] = [
    Scenario("customer_mine", "list", _tab("mine", "customer")),
    Scenario("customer_all", "list", _tab("all", "customer")),
    Scenario("customer_archive", "list", _tab("archive", "customer")),
    Scenario("customer_favorites", "list", _tab("favorites", "customer")),
    Scenario("customer_approval", "list", _tab("approval", "customer")),
    Scenario("customer_admin_all", "list", _tab("all", "admin")),
    Scenario("dispatcher_all", "list", _tab("all", "dispatcher")),
    Scenario("search_number_customer", "list", _search_customer),
    Scenario("search_number_dispatcher", "list", _search_dispatcher),
    Scenario("counters_customer", "counters", lambda ctx: ctx.each(ctx.customers, f"{API}/tickets/counts")),
    Scenario(
        "counters_dispatcher", "counters", lambda ctx: ctx.each([ctx.dispatcher], f"{API}/tickets/counts")
    ),
    Scenario("detail_customer", "detail", _detail_customer),
    Scenario("detail_dispatcher", "detail", _detail_dispatcher),
    Scenario("create_ticket", "write", _create, write=True),
    Scenario("transition", "write", _transition, write=True),
]

# ------------------------------------------------------------------------------ customer-app pages


def _page(path: str, who: str) -> Callable[[BenchContext], list[list[Req]]]:
    """Like ``_tab``, but the server-rendered page, with the browser's session cookie."""

    def build(ctx: BenchContext) -> list[list[Req]]:
        people = {"customer": ctx.customers, "admin": ctx.admins, "dispatcher": [ctx.dispatcher]}[who]
        return [[Req("GET", path, people[c % len(people)].browser)] for c in range(ctx.clients)]

    return build


def _page_search_customer(ctx: BenchContext) -> list[list[Req]]:
    lists = []
    for c in range(ctx.clients):
        person = ctx.customers[c % len(ctx.customers)]
        numbers = [t.number for t in _own_tickets(ctx, person, open_only=True)] or ["0000"]
        lists.append([Req("GET", f"/app/tickets?tab=all&q={quote(n)}", person.browser) for n in numbers])
    return lists


def _page_detail_customer(ctx: BenchContext) -> list[list[Req]]:
    lists = []
    for c in range(ctx.clients):
        person = ctx.customers[c % len(ctx.customers)]
        ids = [t.id for t in _own_tickets(ctx, person, open_only=False)]
        lists.append([Req("GET", f"/app/tickets/{i}", person.browser) for i in ids])
    return lists


# The customer app's HTML pages, the same reads as the API scenarios above (the tab pages also count
# the tabs and fill the filter lists). ``--only page_`` runs them.
PAGE_SCENARIOS: list[Scenario] = [
    Scenario("page_customer_mine", "list", _page("/app/tickets?tab=mine", "customer"), html=True),
    Scenario("page_customer_all", "list", _page("/app/tickets?tab=all", "customer"), html=True),
    Scenario("page_customer_archive", "list", _page("/app/tickets?tab=archive", "customer"), html=True),
    Scenario("page_customer_favorites", "list", _page("/app/tickets?tab=favorites", "customer"), html=True),
    Scenario("page_customer_approval", "list", _page("/app/tickets?tab=approval", "customer"), html=True),
    Scenario("page_customer_admin_all", "list", _page("/app/tickets?tab=all", "admin"), html=True),
    Scenario("page_search_number_customer", "list", _page_search_customer, html=True),
    Scenario("page_detail_customer", "detail", _page_detail_customer, html=True),
]

ALL_SCENARIOS = SCENARIOS + PAGE_SCENARIOS
